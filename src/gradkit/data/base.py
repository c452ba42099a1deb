"""Data: splits as tensors (or streamed from files), a spec the models and reports read.

The fast path keeps a whole split as one tensor (uint8 images stay uint8: 47 MB for
Fashion-MNIST); only data that does not fit in memory is streamed (`StreamSplit`). Both are
batched by `gradkit.data.batches` and normalised per batch on the device (`normalize`).
"""
from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset as TorchDataset

from gradkit.errors import DataError

# Decoding threads for `StreamSplit.take`: PIL releases the GIL while it decodes and resizes,
# which pays for the threads' overhead once an image takes about a millisecond.
DECODE_THREADS = min(8, os.cpu_count() or 1)
THREADED_DECODE_SECONDS = 1e-3
PROGRESS_AFTER_SECONDS = 5.0  # decodes expected to take longer show a bar (on a terminal)
Indices = Sequence[int] | np.ndarray | torch.Tensor
CHUNK_EXAMPLES = 4096  # examples per float64 chunk when fitting normalisation statistics


@dataclass
class DataSpec:
    """What a model and a report need to know about the data."""

    task: str  # the task it was prepared for (the loader names its usual one; `Task.prepare` sets it)
    kind: str  # image | tabular | text | series
    input_shape: tuple[int, ...]  # (C, H, W), (F,), (max tokens,) or (window length, 1)
    num_classes: int | None = None  # language-model: the vocabulary size
    class_names: list[str] | None = None  # language-model: the vocabulary, id order (the characters)
    feature_names: list[str] | None = None
    mean: list[float] = field(default_factory=list)  # per channel / feature, raw units
    std: list[float] = field(default_factory=list)
    target_mean: float = 0.0  # regression targets are standardised for training
    target_std: float = 1.0
    pixel_max: int = 255  # raw value of a white pixel (16 for scikit-learn's digits)
    vocab_size: int | None = None  # text: token ids lie in 0..vocab_size-1, 0 is padding
    tokenizer: str | None = None  # text: the `tokenizers` JSON that turns text into ids
    horizon: int = 1  # forecast: values predicted per window
    season: int = 1  # forecast: the seasonal-naive lag (1: no season, plain persistence)
    mase_scale: float = 1.0  # forecast: in-sample (seasonal) naive MAE on train, MASE's denominator
    # a DataFrame's feature columns in order, and the categories each text/categorical column
    # was one-hot encoded with (from the training rows), so new DataFrames encode the same way
    columns: list[str] | None = None
    categories: dict[str, list[str]] | None = None

    @property
    def output_dim(self) -> int:
        """A model's outputs per example: one per class (or vocabulary entry) when the targets
        are classes, else one per value predicted (`horizon`: 1 but for multi-step forecasts)."""
        return self.num_classes if self.num_classes is not None else self.horizon

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["input_shape"] = list(self.input_shape)
        return out

    def summary(self) -> dict[str, Any]:
        """`to_dict` without the tokenizer's vocabulary, for run.json and the report."""
        out = self.to_dict()
        out.pop("tokenizer")
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> DataSpec:
        return cls(**{**raw, "input_shape": tuple(raw["input_shape"])})


@dataclass
class Split:
    x: torch.Tensor  # raw inputs: uint8 (N, C, H, W) images, float32 (N, F) rows, int64 (N, L) token
    # ids, float32 (N, L, 1) series windows
    y: torch.Tensor  # int64 class indices or float32 targets ((N, horizon) for a forecast)
    text: list[str] | None = None  # text data: the raw texts (baselines, the report's samples)
    time: np.ndarray | None = None  # series: the time label of each window's first target

    def __len__(self) -> int:
        return len(self.y)

    def take(self, idx: Indices) -> Split:
        text = None if self.text is None else [self.text[int(i)] for i in idx]
        time = None if self.time is None else self.time[np.asarray(idx)]
        return Split(self.x[idx], self.y[idx], text, time)


@dataclass
class StreamSplit:
    """A split read from disk on every pass, for data too large to keep decoded.

    `dataset[i]` is (raw uint8 tensor of `input_shape`, int label); `y` holds every label, so
    stratification, baselines and the report's counts decode nothing.
    """

    dataset: TorchDataset
    y: torch.Tensor  # int64 class indices
    input_shape: tuple[int, ...]  # (C, H, W)

    def __len__(self) -> int:
        return len(self.y)

    def take(self, idx: Indices) -> Split:
        """Decode the examples at `idx` into an in-memory split.

        The first few are decoded in this thread and timed: threads pay off only for images
        that take long to decode (PIL releases the GIL while it decodes and resizes); on small
        ones such as 28x28 PNGs they are slower than one thread. Threads rather than worker
        processes: an unreadable file raises its own DataError here, not one wrapped in a
        worker's traceback. A long decode shows a transient progress bar on a terminal.
        """
        idx = [int(i) for i in idx]
        x = torch.empty((len(idx), *self.input_shape), dtype=torch.uint8)
        probe = min(len(idx), 32)
        start = time.perf_counter()
        for row in range(probe):
            x[row] = self.dataset[idx[row]][0]
        per_image = (time.perf_counter() - start) / max(probe, 1)
        threads = DECODE_THREADS if per_image > THREADED_DECODE_SECONDS else 1
        with _decode_progress(len(idx) - probe, per_image) as advance, ThreadPoolExecutor(threads) as pool:
            for first in range(probe, len(idx), 1024):  # map queues a whole block: keep blocks small
                block = idx[first:first + 1024]
                decoded = (pool.map(self.dataset.__getitem__, block) if threads > 1
                           else map(self.dataset.__getitem__, block))
                for row, (xi, _) in enumerate(decoded, first):
                    x[row] = xi
                advance(len(block))
        return Split(x, self.y[idx])


@contextmanager
def _decode_progress(n: int, per_image: float) -> Iterator[Callable[[int], None]]:
    """A transient rich bar for a decode expected to be long, on a terminal; else a no-op."""
    if n * per_image < PROGRESS_AFTER_SECONDS or not sys.stdout.isatty():
        yield lambda k: None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(f"decoding {n:,} images", total=n)
        yield lambda k: bar.advance(task, k)


@dataclass
class Dataset:
    """A data set ready for training: three splits and their spec.

    >>> ds = gradkit.data.load("digits")
    >>> ds.train.x.shape, ds.spec.class_names[:3]
    (torch.Size([1293, 1, 8, 8]), ['0', '1', '2'])
    """

    name: str
    spec: DataSpec
    train: Split | StreamSplit
    val: Split | StreamSplit
    test: Split | StreamSplit
    source: str = ""  # where it was read from, for the report and `doctor`
    notes: list[str] = field(default_factory=list)  # what building it skipped or changed
    targets: str = ""  # what its examples are labelled with: classes, values, series, characters


def norm_params(spec: DataSpec, ndim: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, 1/std) shaped to broadcast over a batch of `ndim` dimensions on `device`."""
    shape = (1, -1, 1, 1) if ndim == 4 else (1, -1)
    mean = torch.tensor(spec.mean, dtype=torch.float32, device=device).view(shape)
    inv_std = 1.0 / torch.tensor(spec.std, dtype=torch.float32, device=device).view(shape)
    return mean, inv_std


def normalize(x: torch.Tensor, spec: DataSpec,
              params: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """Raw inputs -> float32 standardised with the training split's statistics.

    Pass `params` from `norm_params` when normalising many batches: building the two small
    tensors costs more than the arithmetic on a 64-image batch.
    """
    if spec.kind == "text":  # token ids go to an embedding as they are
        return x
    mean, inv_std = params or norm_params(spec, x.dim(), x.device)
    out = x.float()
    if out is x:  # already float: do not modify the caller's tensor
        return (x - mean) * inv_std
    return out.sub_(mean).mul_(inv_std)


def fit_stats(x: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel (images), per-feature (rows) or per-feature over every step (series
    (N, L, F)) mean and std of a training split: one figure per entry of the last dim that
    `norm_params` broadcasts over, never one per (step, feature)."""
    dims = {4: (0, 2, 3), 3: (0, 1)}.get(x.dim(), (0,))
    # in float64, a chunk of examples at a time (a whole float64 copy of Fashion-MNIST's training
    # split is 340 MB), the chunks merged with Chan et al.'s pairwise rule: the same figures as
    # x.double().std / .mean on the whole split
    count, mean, m2 = 0, None, None
    for chunk in x.split(CHUNK_EXAMPLES):
        c = chunk.double()
        mu = c.mean(dim=dims, keepdim=True)
        n = c.numel() // mu.numel()  # values behind each statistic in this chunk
        dev = ((c - mu) ** 2).sum(dim=dims, keepdim=True)
        if mean is None:
            count, mean, m2 = n, mu, dev
        else:
            delta, total = mu - mean, count + n
            mean = mean + delta * (n / total)
            m2 = m2 + dev + delta ** 2 * (count * n / total)
            count = total
    std = (m2 / max(count - 1, 1)).sqrt().clamp_min(1e-6)
    if x.dim() == 1:  # one statistic: plain floats, as x.double().mean() gives
        return mean.item(), std.item()
    return mean.reshape(-1).tolist(), std.reshape(-1).tolist()


def stratified_split(
    y: np.ndarray, fraction: float, seed: int, stratify: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (keep, held_out) with `fraction` held out, class-balanced when possible."""
    idx = np.arange(len(y))
    if fraction <= 0:
        return idx, idx[:0]
    if len(y) < 2:
        raise DataError(f"{len(y)} example(s) cannot be split to hold out {fraction:.0%} of them "
                        "for validation or test; add examples")
    n_held = int(np.ceil(fraction * len(y)))
    classes = len(np.unique(y))
    # sklearn can only stratify when every class has 2+ members and each side gets them all.
    ok = stratify and np.bincount(y).min() >= 2 and classes <= min(n_held, len(y) - n_held)
    strat = y if ok else None
    from sklearn.model_selection import train_test_split  # ~1 s to import: only when splitting

    try:
        keep, held = train_test_split(idx, test_size=fraction, random_state=seed, stratify=strat)
    except ValueError as exc:  # e.g. "the resulting train set will be empty"
        raise DataError(f"{len(y)} examples are too few to hold out {fraction:.0%} of them ({exc}); "
                        "add examples or lower data.val_fraction / data.test_fraction") from None
    return np.sort(keep), np.sort(held)


def make_dataset(
    name: str,
    spec: DataSpec,
    train: Split,
    test: Split,
    val_fraction: float,
    seed: int,
    limit: int | None = None,
    source: str = "",
) -> Dataset:
    """Carve a stratified validation split from train, optionally subsample, fit statistics."""
    classify = spec.num_classes is not None  # class labels: stratified splits, label checks
    y = train.y.numpy()
    if limit is not None and limit < len(train):
        keep, _ = stratified_split(y, 1 - limit / len(train), seed, stratify=classify)
        train = Split(train.x[keep], train.y[keep])
        y = train.y.numpy()
    fit_idx, val_idx = stratified_split(y, val_fraction, seed, stratify=classify)
    val = Split(train.x[val_idx], train.y[val_idx])
    train = Split(train.x[fit_idx], train.y[fit_idx])
    if len(train) < 2:
        raise DataError(f"data set '{name}': {len(train)} training example(s) remain after holding "
                        "out validation and test examples; add examples or lower "
                        "data.val_fraction / data.test_fraction")
    spec.mean, spec.std = fit_stats(train.x)
    if not classify:
        spec.target_mean = float(train.y.double().mean())
        spec.target_std = float(train.y.double().std().clamp_min(1e-6))
    if classify:
        check_labels(train.y, spec.num_classes, name)
        check_labels(test.y, spec.num_classes, name)
    return Dataset(name, spec, train, val, test, source)


def check_labels(y: torch.Tensor, num_classes: int | None, name: str) -> None:
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= (num_classes or 0)):
        raise DataError(
            f"data set '{name}': labels must lie in 0..{(num_classes or 0) - 1}, "
            f"found {int(y.min())}..{int(y.max())}"
        )
