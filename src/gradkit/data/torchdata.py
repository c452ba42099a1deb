"""PyTorch's own data as a gradkit `Dataset`: a map-style `torch.utils.data.Dataset` (items
(x, y), or dicts) or a `DataLoader`, for training and for validation and test.

    gk.fit(model, train_set, validation_data=val_set)         # a torch Dataset
    gk.fit(model, train_loader, validation_data=val_loader)   # a DataLoader, used as given

A Dataset whose examples fit in `memory_limit_mb` is read once into tensors and then treated
like arrays (gradkit.data.arrays: labels, kinds, statistics from the training part, a stratified
validation split). A larger one, and any DataLoader, stays lazy (`LoaderSplit`): training
iterates the loader itself (its batch size, sampler, workers and collate function); evaluation
reads the same dataset in order; the normalisation statistics come from the first
`STATS_EXAMPLES` training examples. A DataLoader's validation data must be given: gradkit cannot
carve examples out of a sampler it uses as given.

Dict items name their input and label with `columns=(input key, label key)`; without it the
first of `INPUT_KEYS` and `LABEL_KEYS` found is used.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from gradkit.data.base import DataSpec, Dataset, Split, fit_stats
from gradkit.errors import DataError

INPUT_KEYS = ("x", "input", "inputs", "image", "img", "pixel_values", "features", "text")
LABEL_KEYS = ("y", "label", "labels", "target", "targets")
STATS_EXAMPLES = 2000


def is_torch_data(x: Any) -> bool:
    return isinstance(x, (DataLoader, torch.utils.data.Dataset)) and hasattr(x, "__len__")


def is_hf_dataset(x: Any) -> bool:
    """A Hugging Face `datasets.Dataset` (recognised without importing `datasets`)."""
    return type(x).__module__.split(".")[0] == "datasets" and hasattr(x, "column_names")


def from_hf(data: Any, columns: tuple[str, str] | None = None, **kwargs: Any) -> Dataset:
    """A Hugging Face `datasets.Dataset` with named columns (`columns=("image", "label")` or
    `("text", "label")`; by default the first of `INPUT_KEYS` and `LABEL_KEYS` it has) ->
    a `Dataset`, through `from_arrays`; a `ClassLabel` column keeps its class names."""
    from gradkit.data.arrays import from_arrays

    def pair(ds: Any) -> tuple[Any, Any]:
        names = ds.column_names
        keys = columns or (next((k for k in INPUT_KEYS if k in names), None),
                           next((k for k in LABEL_KEYS if k in names), None))
        if any(k is None or k not in names for k in keys):
            raise DataError(f"the datasets.Dataset has columns {', '.join(names)}; name the input "
                            "and label columns: columns=(\"image\", \"label\")")
        x, y = ds[keys[0]], ds[keys[1]]
        if x and not isinstance(x[0], str):
            x = np.stack([_array(v) for v in x])  # PIL images, lists of numbers
        label_names = getattr(ds.features[keys[1]], "names", None)  # a ClassLabel's, in its order
        if label_names:
            import pandas as pd  # a dependency of datasets

            y = pd.Categorical.from_codes(np.asarray(y), label_names)
        return x, y

    given = {k: pair(v) if is_hf_dataset(v) else v for k, v in
             (("validation_data", kwargs.pop("validation_data", None)),
              ("test_data", kwargs.pop("test_data", None)))}
    x, y = pair(data)
    return from_arrays(x, y, **given, **kwargs)


def from_torch(train: Any, *, validation_data: Any = None, validation_split: float = 0.1,
               test_data: Any = None, targets: str | None = None, kind: str | None = None,
               columns: tuple[str, str] | None = None, memory_limit_mb: float = 2048,
               name: str = "torch", seed: int = 0, **kwargs: Any) -> Dataset:
    """A torch Dataset or DataLoader (and its validation and test data: the same, or arrays
    pairs) -> a `Dataset`; see the module docstring."""
    from gradkit.data.arrays import from_arrays

    if kwargs.get("options") is not None:  # gk.fit(..., data={"memory_limit_mb": ...})
        memory_limit_mb = kwargs["options"].memory_limit_mb
    if not isinstance(train, DataLoader) and _fits(train, columns, memory_limit_mb):
        x, y = materialise(train, columns)
        given = {k: materialise(v, columns) if is_torch_data(v) else v
                 for k, v in (("validation_data", validation_data), ("test_data", test_data))}
        return from_arrays(x, y, targets=targets, kind=kind, validation_split=validation_split,
                           name=name, seed=seed, **given, **kwargs)
    if validation_data is None:
        raise DataError("pass validation_data= (a DataLoader, a Dataset or (x, y)) with a "
                        "DataLoader or a data set too large for memory: gradkit cannot carve a "
                        "validation split out of data it reads as given")
    splits = {"train": LoaderSplit.of(train, columns, shuffle=True)}
    for split_name, given in (("val", validation_data), ("test", test_data)):
        if given is not None:
            splits[split_name] = (LoaderSplit.of(given, columns, batch_size=splits["train"].batch_size)
                                  if is_torch_data(given) else _arrays_split(given))
    return _dataset(name, splits, targets, kind)


def _arrays_split(given: Any) -> Split:
    from gradkit.data.arrays import _inputs, _pair, encode_labels

    gx, gy = _pair(given, "validation")
    x, _ = _inputs(gx, None, "validation x")
    return Split(x, encode_labels(gy, None, len(x), "validation y")[0])


def item(sample: Any, columns: tuple[str, str] | None) -> tuple[Any, Any]:
    """One item (or collated batch) of a torch data set -> (input, label)."""
    if isinstance(sample, dict):
        keys = columns or (next((k for k in INPUT_KEYS if k in sample), None),
                           next((k for k in LABEL_KEYS if k in sample), None))
        missing = [k for k in keys if k is None or k not in sample]
        if missing:
            raise DataError(f"items are dicts with keys {', '.join(map(str, sample))}; name the input "
                            "and label keys: columns=(\"image\", \"label\")")
        return sample[keys[0]], sample[keys[1]]
    if isinstance(sample, (tuple, list)) and len(sample) >= 2:
        return sample[0], sample[1]
    raise DataError(f"a torch data set's items must be (x, y) pairs or dicts; got "
                    f"{type(sample).__name__}")


def _array(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)  # numpy, numbers, PIL images


def _fits(data: Any, columns: tuple[str, str] | None, limit_mb: float) -> bool:
    if len(data) == 0:
        raise DataError("the torch data set is empty")
    x, _ = item(data[0], columns)
    if isinstance(x, str):
        return True
    return _array(x).nbytes * len(data) <= limit_mb * 2**20


def materialise(data: Any, columns: tuple[str, str] | None) -> tuple[Any, Any]:
    """Every item of a map-style data set (or a DataLoader's data set) -> (inputs, labels)."""
    data = data.dataset if isinstance(data, DataLoader) else data
    xs, ys = zip(*(item(data[i], columns) for i in range(len(data))))
    if all(isinstance(v, str) for v in xs):
        return list(xs), _labels(ys)
    return np.stack([_array(v) for v in xs]), _labels(ys)


def _labels(ys: tuple) -> np.ndarray:
    out = np.asarray([_array(v).reshape(()) if np.ndim(_array(v)) else _array(v) for v in ys])
    return out.reshape(len(ys))


class LoaderSplit:
    """A split read lazily through a DataLoader: `shuffle` ones (training) are iterated as the
    user built them; the others read their dataset in order. `y` (every label) is read from the
    dataset's `targets` (torchvision's) or, failing that, by one pass over its items."""

    def __init__(self, loader: DataLoader, columns: tuple[str, str] | None, shuffle: bool) -> None:
        self.loader, self.columns, self.shuffle = loader, columns, shuffle
        self.dataset = loader.dataset
        self.batch_size = loader.batch_size or 64
        self._y: torch.Tensor | None = None
        first = next(iter(self.ordered(min(self.batch_size, len(self.dataset)))))
        self.input_shape = tuple(first[0].shape[1:])

    @classmethod
    def of(cls, data: Any, columns: tuple[str, str] | None, shuffle: bool = False,
           batch_size: int = 256) -> LoaderSplit:
        loader = data if isinstance(data, DataLoader) else DataLoader(data, batch_size=batch_size)
        return cls(loader, columns, shuffle)

    def __len__(self) -> int:
        return len(self.dataset)

    def ordered(self, batch_size: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(x, y) batches of the dataset in order, with the loader's workers and collate."""
        loader = DataLoader(self.dataset, batch_size=batch_size or self.batch_size, shuffle=False,
                            num_workers=self.loader.num_workers, collate_fn=self.loader.collate_fn)
        for batch in loader:
            yield tensors(batch, self.columns)

    def batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Training batches: the user's loader as given; evaluation: the dataset in order."""
        if not self.shuffle:
            yield from self.ordered()
            return
        for batch in self.loader:
            yield tensors(batch, self.columns)

    @property
    def y(self) -> torch.Tensor:
        if self._y is None:
            found = getattr(self.dataset, "targets", None)
            if found is not None and len(found) == len(self.dataset):
                self._y = torch.as_tensor(np.asarray(found))
            else:
                self._y = torch.cat([yb for _, yb in self.ordered()])
        return self._y

    def take(self, idx: Any) -> Split:
        idx = [int(i) for i in idx]
        if not idx:
            return Split(torch.zeros((0, *self.input_shape)), self.y[:0])
        pairs = [tensors(self.loader.collate_fn([self.dataset[i]]), self.columns) for i in idx]
        return Split(torch.cat([p[0] for p in pairs]), torch.cat([p[1] for p in pairs]))


def tensors(batch: Any, columns: tuple[str, str] | None) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = item(batch, columns)
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    if x.dim() == 3 and x.shape[-1] > 4:  # (B, H, W) grey images
        x = x.unsqueeze(1)
    return x, y.reshape(len(y), *y.shape[1:]) if y.dim() > 1 else y


def _dataset(name: str, splits: dict[str, Any], targets: str | None, kind: str | None) -> Dataset:
    train = splits["train"]
    sample = train.take(np.arange(min(STATS_EXAMPLES, len(train))))
    classes = targets == "classes" or (targets is None and not sample.y.is_floating_point())
    kind = kind or {4: "image", 2: "tabular", 3: "series"}.get(sample.x.dim(), "tabular")
    names = None
    if classes:
        labels = train.y
        found = getattr(train.dataset, "classes", None)
        k = int(labels.max()) + 1 if len(labels) else 0
        names = [str(c) for c in found] if found is not None and len(found) >= k \
            else [str(i) for i in range(k)]
    mean, std = ([], []) if kind == "text" else fit_stats(sample.x.float())
    top = float(sample.x.max()) if len(sample.x) else 1.0
    spec = DataSpec("classification" if classes else "regression", kind, tuple(train.input_shape),
                    len(names) if names else None, names, mean=mean, std=std,
                    pixel_max=1 if top <= 1 else 255)
    if not classes:
        spec.target_mean, spec.target_std = float(sample.y.double().mean()), float(
            sample.y.double().std().clamp_min(1e-6))
    empty = Split(sample.x[:0], sample.y[:0])
    notes = [] if "test" in splits else ["no test_data: the final figures are the validation split's"]
    return Dataset(name, spec, train, splits.get("val", empty), splits.get("test", empty),
                   "your torch data", notes, "classes" if classes else "values")
