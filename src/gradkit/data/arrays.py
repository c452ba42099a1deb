"""Your data as a gradkit `Dataset`, in the form you have it: numpy arrays or torch tensors,
a pandas DataFrame, a list of texts, a series, one long text.

    ds = from_arrays(x_train, y_train)                        # images, rows, token ids
    ds = from_arrays(x, y, validation_data=(x_val, y_val), test_data=(x_test, y_test))
    ds = from_arrays(["a review", ...], ["pos", ...])         # texts: a vocabulary learnt on train
    ds = from_arrays(values)                                  # a series: forecast windows
    ds = from_arrays(open("book.txt").read(), targets="characters")   # a language model's text

What the examples are labelled with (`targets`, gradkit.data) is read off `y` unless given:
no `y` means a series (numbers) or a text (a string); float labels are values (regression);
integers, booleans, strings and pandas Categoricals are classes, whose names are kept for
reports and `predict`. Images come as (N, H, W), (N, C, H, W) or channels-last (N, H, W, C),
in any dtype and range; tables as (N, F); texts as strings; token ids need `kind="text"`.
DataFrames are frames.py's; `gradkit.data.forms.as_dataset` takes any form.

Normalisation statistics come from the training part only and
are kept in the spec, so `Run.predict` applies them to new inputs. Without `validation_data`,
`validation_split` of the training examples (stratified by class) is held out; without
`test_data` there is no test split and the run's final figures are its validation ones.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from gradkit.data import register
from gradkit.data.base import DataSpec, Dataset, Split, fit_stats, stratified_split
from gradkit.errors import DataError

KINDS = ("image", "tabular", "text", "series")


@register("arrays", "any", "your arrays, DataFrame or torch data, given to gk.fit in Python",
          given=True)
def _given(cfg: Any, targets: str, seed: int) -> Dataset:
    raise DataError("data.name=arrays records data given to gk.fit in Python; a config cannot "
                    "load it again: pass the data (gk.fit(model, x, y), run.evaluate(x, y))")


def from_arrays(x: Any, y: Any = None, *, targets: str | None = None, kind: str | None = None,
                validation_data: Any = None, validation_split: float = 0.1, test_data: Any = None,
                name: str = "arrays", seed: int = 0, options: Any = None) -> Dataset:
    """Arrays (numpy, torch, lists) -> a `Dataset`; see the module docstring. `options`: a
    `DataConfig` for what texts and series read (max_length, vocab_size, input_length...)."""
    from gradkit.config import DataConfig

    options = options or DataConfig(name="csv", val_fraction=validation_split)
    if isinstance(x, str):
        return _characters(x, y, targets, name, options)
    if y is None and targets in (None, "series") and _is_series(x):
        return _series(x, name, options)
    if _is_texts(x):
        return _texts(x, y, targets, validation_data, validation_split, test_data, name, seed, options)
    if y is None:
        raise DataError("y is missing: pass the labels (or targets) of x, e.g. gk.fit(model, x, y); "
                        "only a 1-D series (forecast) or one text (language model) needs none")
    train_x, kind = _inputs(x, kind, "x")
    train_y, names = encode_labels(y, targets, len(train_x), "y")
    targets = targets or ("classes" if names is not None else "values")
    parts = _parts(train_x, train_y, names, kind, validation_data, validation_split, test_data, seed)
    return _dataset(name, parts, names, kind, targets)


# ---------------------------------------------------------------- labels


def encode_labels(y: Any, targets: str | None, n: int, what: str,
                  names: list[str] | None = None) -> tuple[torch.Tensor, list[str] | None]:
    """Labels -> (int64 class indices and the class names) or (float32 values, None).

    `names`: the classes of a fitted run (validation, test or new data must use its indices);
    `targets`: "classes" or "values" when the caller knows, else read off the dtype.
    """
    categories = _categories(y)
    if categories is not None:  # a pandas Categorical, or a Series of one: its codes, its order
        arr = np.asarray(y.cat.codes if hasattr(y, "cat") else y.codes)
    else:
        arr = _numpy(y)
    if arr.ndim != 1 and not (arr.ndim == 2 and arr.shape[1] == 1):
        raise DataError(f"{what} has shape {arr.shape}: labels are one per example, (N,)")
    arr = arr.reshape(-1)
    if len(arr) != n:
        raise DataError(f"{what} holds {len(arr)} labels for {n} examples; they must match")
    if arr.dtype == object and any(v is None or (isinstance(v, float) and math.isnan(v)) for v in arr):
        raise DataError(f"{what} has missing labels; drop those examples")
    classes = targets == "classes" or (targets is None and (categories is not None
                                                           or arr.dtype.kind in "iubUSO"))
    if not classes:
        if arr.dtype.kind not in "iuf":
            raise DataError(f"{what} holds {arr.dtype} values; a regression needs numbers")
        values = arr.astype(np.float32)
        _no_nan(values, what)
        return torch.from_numpy(values), None
    if arr.dtype.kind == "f":
        _no_nan(arr, what)
        if not np.all(arr == np.round(arr)):
            raise DataError(f"{what} holds fractional numbers, which are values, not classes: use "
                            "task='regression' (or whole-number class labels)")
        arr = arr.astype(np.int64)
    labels = ([str(categories[c]) if c >= 0 else None for c in arr] if categories is not None
              else [str(v) for v in arr.tolist()])
    if categories is not None and None in labels:
        raise DataError(f"{what} has missing labels (NaN in the Categorical); drop those examples")
    if names is None:
        names = ([str(c) for c in categories] if categories is not None
                 else sorted(set(labels), key=lambda v: (_number(v) is None, _number(v) or 0.0, v)))
    index = {name: i for i, name in enumerate(names)}
    unknown = sorted({lab for lab in labels if lab not in index})
    if unknown:
        raise DataError(f"{what} holds label(s) {', '.join(map(repr, unknown[:5]))} the model was "
                        f"not trained on; its classes are {', '.join(names[:20])}")
    return torch.tensor([index[lab] for lab in labels], dtype=torch.int64), names


def _categories(y: Any) -> list | None:
    if getattr(getattr(y, "dtype", None), "name", "") != "category":
        return None
    return list((y.cat if hasattr(y, "cat") else y).categories)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _no_nan(arr: np.ndarray, what: str) -> None:
    """`arr` (N, ...) finite everywhere, else an error naming the first bad example."""
    bad = np.flatnonzero(~np.isfinite(arr.reshape(len(arr), -1)).all(1))
    if len(bad):
        raise DataError(f"{what} has {len(bad)} missing or infinite value(s) (first at index "
                        f"{bad[0]}); drop those examples")


# ---------------------------------------------------------------- inputs


def _numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if hasattr(x, "to_numpy"):  # pandas
        return x.to_numpy()
    try:
        return np.asarray(x)
    except ValueError as exc:  # numpy refuses ragged nested lists
        raise DataError(f"x is ragged ({exc}): every example must have the same shape") from None


def _inputs(x: Any, kind: str | None, what: str) -> tuple[torch.Tensor, str]:
    """(examples as a tensor in gradkit's layout, their kind): images (N, C, H, W), rows (N, F),
    token ids (N, L), series windows (N, L, F)."""
    arr = _numpy(x)
    if arr.dtype == object:
        raise DataError(f"{what} is ragged or mixes types (numpy made an object array of it): "
                        "every example must be numbers of the same shape")
    if arr.dtype.kind not in "biuf":
        raise DataError(f"{what} holds {arr.dtype} values; pass numbers (or a list of texts)")
    if arr.ndim < 2:
        raise DataError(f"{what} has shape {arr.shape}: pass one example per row, (N, ...)")
    if kind not in (None, *KINDS):
        raise DataError(f"kind='{kind}' is not one of {', '.join(KINDS)}")
    kind = kind or _kind_of(arr)
    if kind == "image":
        if arr.ndim == 3:
            arr = arr[:, None]  # (N, H, W) grey
        elif arr.ndim == 4 and arr.shape[-1] in (1, 3) and arr.shape[1] not in (1, 3):
            arr = np.ascontiguousarray(arr.transpose(0, 3, 1, 2))  # channels-last
        if arr.ndim != 4:
            raise DataError(f"{what} has shape {arr.shape}, not images: (N, H, W), (N, C, H, W) "
                            "or (N, H, W, C)")
    if kind == "text":
        if arr.ndim != 2 or arr.dtype.kind not in "iu" or arr.min() < 0:
            raise DataError(f"{what}: token ids are whole numbers >= 0 in (N, max_length), 0 "
                            "padding; or pass the texts themselves")
        return torch.from_numpy(arr.astype(np.int64)), kind
    if arr.dtype.kind == "f":
        arr = arr.astype(np.float32)
        _no_nan(arr, f"{what} (an example)")
    elif arr.dtype.kind == "b":
        arr = arr.astype(np.uint8)
    elif kind != "image" or arr.dtype != np.uint8:
        arr = arr.astype(np.float32)  # integer rows and series: the model reads floats
    return torch.from_numpy(np.ascontiguousarray(arr)), kind


def _kind_of(arr: np.ndarray) -> str:
    if arr.ndim == 2:
        return "tabular"
    if arr.ndim == 3 and arr.shape[-1] <= 4:  # (N, L, F): windows of a few features
        return "series"
    if arr.ndim in (3, 4):
        return "image"
    raise DataError(f"x has shape {arr.shape}: gradkit reads images, rows, token ids and series "
                    "windows; reshape it to one of those")


def _is_series(x: Any) -> bool:
    arr = np.asarray(x) if not isinstance(x, torch.Tensor) else x.numpy()
    return arr.ndim == 1 and arr.dtype.kind in "iuf"


def _is_texts(x: Any) -> bool:
    if isinstance(x, (list, tuple)):
        return bool(x) and all(isinstance(t, str) for t in x)
    arr = getattr(x, "dtype", None)
    return getattr(arr, "kind", "") in "UO" and np.asarray(x).ndim == 1 and \
        all(isinstance(t, str) for t in np.asarray(x)[:100])


# ---------------------------------------------------------------- splits and the spec


def _held_out(y: torch.Tensor, names: list[str] | None, validation_data: Any, fraction: float,
              seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(training rows, validation rows or None when validation_data is given)."""
    rows = np.arange(len(y))
    if validation_data is not None or fraction <= 0:
        return rows, None
    if not 0 < fraction < 1:
        raise DataError(f"validation_split={fraction}: hold out a fraction between 0 and 1")
    labels = y.numpy() if names is not None else np.zeros(len(y), dtype=np.int64)
    keep, held = stratified_split(labels, fraction, seed, stratify=names is not None)
    return keep, held


def _parts(x: torch.Tensor, y: torch.Tensor, names: list[str] | None, kind: str,
           validation_data: Any, fraction: float, test_data: Any, seed: int) -> dict[str, Split]:
    keep, held = _held_out(y, names, validation_data, fraction, seed)
    parts = {"train": Split(x[keep], y[keep])}
    if held is not None:
        parts["val"] = Split(x[held], y[held])
    targets = "classes" if names is not None else "values"
    for split_name, given in (("val", validation_data), ("test", test_data)):
        if given is not None:
            gx, gy = _pair(given, split_name)
            sx, _ = _inputs(gx, kind, f"{split_name} x")
            if tuple(sx.shape[1:]) != tuple(x.shape[1:]):
                raise DataError(f"the {split_name} examples have shape {tuple(sx.shape[1:])}, the "
                                f"training ones {tuple(x.shape[1:])}; they must match")
            parts[split_name] = Split(sx, encode_labels(gy, targets, len(sx), f"{split_name} y",
                                                        names)[0])
    return parts


def _pair(given: Any, split_name: str) -> tuple[Any, Any]:
    if not (isinstance(given, (tuple, list)) and len(given) == 2):
        raise DataError(f"{split_name}_data must be a pair (x, y)")
    return given[0], given[1]


def _dataset(name: str, parts: dict[str, Split], names: list[str] | None, kind: str,
             targets: str) -> Dataset:
    train = parts["train"]
    if len(train) < 2:
        raise DataError(f"{len(train)} training example(s) remain after holding out validation "
                        "ones; pass more examples or a smaller validation_split")
    empty = Split(train.x[:0], train.y[:0])
    x = train.x
    pixel_max = 255
    if kind == "image":  # the raw value of white: 1 for [0, 1] floats, else the brightest pixel
        top = float(x.max()) if len(x) else 1.0
        pixel_max = 1 if top <= 1.0 and x.is_floating_point() else max(1, math.ceil(top))
    mean, std = ([], []) if kind == "text" else fit_stats(x)
    task = "classification" if names is not None else "regression"
    spec = DataSpec(task, kind, tuple(x.shape[1:]), len(names) if names else None, names,
                    mean=mean, std=std, pixel_max=pixel_max,
                    vocab_size=int(x.max()) + 1 if kind == "text" else None)
    if names is None:
        spec.target_mean = float(train.y.double().mean())
        spec.target_std = float(train.y.double().std().clamp_min(1e-6)) if len(train) > 1 else 1.0
    notes = [] if "test" in parts else ["no test_data: the final figures are the validation split's"]
    return Dataset(name, spec, train, parts.get("val", empty), parts.get("test", empty),
                   "your arrays", notes, targets)


# ---------------------------------------------------------------- texts, series, characters


def _texts(x: Any, y: Any, targets: str | None, validation_data: Any, fraction: float,
           test_data: Any, name: str, seed: int, options: Any) -> Dataset:
    from gradkit.data.text import build_text_dataset

    if targets not in (None, "classes"):
        raise DataError("texts are classified: their labels are classes")
    texts = [str(t) for t in x]
    labels = [str(v) for v in _numpy(y).reshape(-1).tolist()] if y is not None else None
    if labels is None or len(labels) != len(texts):
        raise DataError(f"pass one label per text: {len(texts)} texts, "
                        f"{'no' if labels is None else len(labels)} labels")
    splits = ["train"] * len(texts)
    for split_name, given in (("val", validation_data), ("test", test_data)):
        if given is not None:
            gx, gy = _pair(given, split_name)
            texts += [str(t) for t in gx]
            labels += [str(v) for v in _numpy(gy).reshape(-1).tolist()]
            splits += [split_name] * len(gx)
    cfg = options.model_copy(update={"val_fraction": fraction}) if fraction > 0 else options
    notes = [] if test_data is not None else ["no test_data: the final figures are the validation split's"]
    data = build_text_dataset(name, texts, labels, splits, cfg, seed, "your texts", notes,
                              test_required=False)
    data.targets = "classes"
    return data


def _series(x: Any, name: str, options: Any) -> Dataset:
    from gradkit.data.series import make_series_dataset

    values = _numpy(x).astype(np.float64).reshape(-1)
    _no_nan(values, "the series")
    data = make_series_dataset(name, values, None, options, 1, "your series", [], "value")
    data.targets = "series"
    return data


def _characters(text: str, y: Any, targets: str | None, name: str, options: Any) -> Dataset:
    from gradkit.data.corpus import build_char_dataset

    if y is not None or targets not in (None, "characters"):
        raise DataError("one string is a text for a language model (task='language-model'); to "
                        "classify texts pass a list of them and their labels")
    data = build_char_dataset(name, text, options, "your text")
    data.targets = "characters"
    return data
