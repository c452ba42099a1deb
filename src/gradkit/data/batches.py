"""Batching: index batches of an in-memory split on the training device, or a DataLoader over a
streamed one, with the same order per (seed, epoch). `make_batches` picks the path.

The articles' `DataLoader(ToTensor())` loop converts every image through PIL on every epoch,
which costs more than a small MLP's whole forward and backward pass; `Batches` indexes one
uint8 tensor instead and normalises per batch. Streamed data (`StreamBatches`) has DataLoader
workers decode and collate uint8, normalised on the device like the in-memory batches.

Distributed, both take a `shard` (rank, world): each global batch of `batch_size` is cut into
`world` chunks (`torch.tensor_split`) and rank r gets chunk r, so the ranks see disjoint parts
of every batch and together exactly the one-process batch. A final global batch smaller than
`world` is dropped (a rank would get nothing); `global_size(i)` is batch i's size over all ranks.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Sampler

from gradkit.data.base import DataSpec, Split, StreamSplit, norm_params, normalize
from gradkit.errors import DataError


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffled order of epoch `epoch`, from (seed, epoch) alone, in memory or streamed."""
    gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=gen)


def length_buckets(order: torch.Tensor, lengths: torch.Tensor, batch_size: int, seed: int,
                   epoch: int, window: int = 50) -> torch.Tensor:
    """`order` regrouped so that each batch holds texts of similar length, batches shuffled.

    Within each window of `window` batches the examples are sorted by length and cut into
    batches; then the batches are shuffled. A batch is trimmed to its longest text, so it
    carries little padding, while the examples a batch meets still change every epoch.
    Depends only on (seed, epoch), like `epoch_order`.
    """
    span = batch_size * window
    batches: list[torch.Tensor] = []
    for start in range(0, len(order), span):
        part = order[start:start + span]
        part = part[torch.argsort(lengths[part], stable=True)]
        batches.extend(part.split(batch_size))
    # The one short batch stays last: the caller cuts the order every `batch_size` examples.
    short = [batches.pop()] if batches and len(batches[-1]) < batch_size else []
    gen = torch.Generator().manual_seed(seed * 100_003 + epoch + 7_919)
    shuffled = [batches[i] for i in torch.randperm(len(batches), generator=gen).tolist()]
    return torch.cat(shuffled + short)


def global_batches(n: int, batch_size: int, world: int = 1) -> int:
    """Batches per epoch: every full batch, and the last partial one if each rank gets an example."""
    full, rest = divmod(n, batch_size)
    return full + int(rest >= world)  # world >= 1, so rest 0 adds nothing


def shard_of(idx: torch.Tensor, shard: tuple[int, int]) -> torch.Tensor:
    """Rank r's contiguous chunk of one global batch's indices (sizes differ by at most one)."""
    rank, world = shard
    return idx if world == 1 else idx.tensor_split(world)[rank]


class Batches:
    """Index batching over an in-memory split, on the training device.

    The order of epoch `e` depends only on (seed, e), so a resumed run sees exactly the
    batches an uninterrupted one would. Text batches are trimmed to their longest row and
    grouped by length: shuffled ones by `length_buckets`, unshuffled (evaluation) ones sorted,
    so a batch of 1,024 short glosses is not padded to its one long text; `order` then holds
    the permutation, for a caller that needs per-example outputs in the split's order.
    """

    def __init__(self, split: Split, spec: DataSpec, batch_size: int, device: torch.device,
                 shuffle: bool = False, seed: int = 0, augment: Any = None,
                 shard: tuple[int, int] = (0, 1)) -> None:
        self.x = split.x.to(device)
        self.y = split.y.to(device)
        self.spec = spec
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.augment = augment
        self.shard = shard
        self.epoch = 0
        self._norm = norm_params(spec, self.x.dim(), self.x.device)
        # text: tokens per row, kept on the CPU so cutting a batch's width never syncs a GPU
        self.lengths = (split.x != 0).sum(1).clamp_min(1) if spec.kind == "text" else None
        self.order = None if self.lengths is None or shuffle else torch.argsort(self.lengths, stable=True)

    def __len__(self) -> int:
        return global_batches(len(self.y), self.batch_size, self.shard[1])

    def global_size(self, i: int) -> int:
        return min(self.batch_size, len(self.y) - i * self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.y)
        order = epoch_order(n, self.seed, self.epoch) if self.shuffle else self.order
        if order is None and self.shard[1] > 1:
            order = torch.arange(n)
        # Only training batches are bucketed and shuffled: evaluation runs in exactly `order`
        # (sorted by length), which callers invert to put per-example outputs back in place.
        if self.shuffle and self.lengths is not None:
            order = length_buckets(order, self.lengths, self.batch_size, self.seed, self.epoch)
        widths = None
        if self.lengths is not None:  # right-padded token ids: each batch drops its padding columns
            ordered = self.lengths if order is None else self.lengths[order]
            widths = [int(w.max()) for w in ordered.split(self.batch_size)]
        order = order.to(self.x.device) if order is not None else None
        for b in range(len(self)):
            start = b * self.batch_size
            if order is None:
                xb, yb = self.x[start:start + self.batch_size], self.y[start:start + self.batch_size]
            else:
                idx = shard_of(order[start:start + self.batch_size], self.shard)
                # index_select skips __getitem__'s parsing: ~10 us a batch on small models
                xb, yb = self.x.index_select(0, idx), self.y.index_select(0, idx)
            if widths is not None:
                xb = xb[:, :widths[b]]
            xb = normalize(xb, self.spec, self._norm)
            if self.augment is not None:
                xb = self.augment(xb)
            yield xb, yb


class _EpochBatches(Sampler[list[int]]):
    """Batches of indices in `epoch_order` (or in order, unshuffled), this rank's chunk of each;
    `epoch` is set between epochs."""

    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: int,
                 shard: tuple[int, int] = (0, 1)) -> None:
        self.n, self.batch_size, self.shuffle, self.seed, self.epoch = n, batch_size, shuffle, seed, 0
        self.shard = shard

    def __len__(self) -> int:
        return global_batches(self.n, self.batch_size, self.shard[1])

    def __iter__(self) -> Iterator[list[int]]:
        order = epoch_order(self.n, self.seed, self.epoch) if self.shuffle else torch.arange(self.n)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            yield shard_of(order[start:start + self.batch_size], self.shard).tolist()


class StreamBatches:
    """Batches of a `StreamSplit` through a DataLoader, with the interface of `Batches`.

    Workers decode and collate uint8, so one byte a pixel crosses to the main process; the
    batches are normalised (and augmented) on the device, and epoch `e` visits the examples in
    `epoch_order(n, seed, e)`, exactly as `Batches` does: same batches, same resumed run.
    """

    def __init__(self, split: StreamSplit, spec: DataSpec, batch_size: int, device: torch.device,
                 shuffle: bool = False, seed: int = 0, augment: Any = None, workers: int = 0,
                 shard: tuple[int, int] = (0, 1)) -> None:
        self.sampler = _EpochBatches(len(split), batch_size, shuffle, seed, shard)
        # A private generator: the loader draws worker seeds from it on every epoch, and drawing
        # them from the global one would shift the dropout masks of the model being trained.
        self.loader = DataLoader(split.dataset, batch_sampler=self.sampler, num_workers=workers,
                                 pin_memory=device.type == "cuda", persistent_workers=workers > 0,
                                 generator=torch.Generator())
        self.device = device
        self.spec = spec
        self.augment = augment
        self._norm = norm_params(spec, len(split.input_shape) + 1, device)

    def __len__(self) -> int:
        return len(self.loader)

    def global_size(self, i: int) -> int:
        return min(self.sampler.batch_size, self.sampler.n - i * self.sampler.batch_size)

    def set_epoch(self, epoch: int) -> None:
        self.sampler.epoch = epoch

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        try:
            for xb, yb in self.loader:  # uint8 (B, C, H, W), int64 (B,)
                xb = normalize(xb.to(self.device, non_blocking=True), self.spec, self._norm)
                if self.augment is not None:
                    xb = self.augment(xb)
                yield xb, yb.to(self.device, non_blocking=True)
        except DataError as exc:  # from a worker: "Caught DataError in ... Traceback ... DataError: msg"
            raise DataError(str(exc).rpartition("DataError: ")[2].strip()) from None


class LoaderBatches:
    """Batches of a `LoaderSplit` (a user's DataLoader or torch Dataset), normalised on the
    device like the others: training ones as the user's loader gives them, evaluation ones in
    the data set's order."""

    def __init__(self, split: Any, spec: DataSpec, device: torch.device, shuffle: bool = False,
                 augment: Any = None) -> None:
        self.split, self.spec, self.device, self.shuffle, self.augment = split, spec, device, shuffle, augment
        self._norm = norm_params(spec, len(split.input_shape) + 1, device)

    def __len__(self) -> int:
        if self.shuffle:
            return len(self.split.loader)
        return -(-len(self.split) // self.split.batch_size)

    def global_size(self, i: int) -> int:
        return self.split.batch_size

    def set_epoch(self, epoch: int) -> None:
        for part in (self.split.loader.sampler, self.split.loader.batch_sampler):
            if hasattr(part, "set_epoch"):  # DistributedSampler and friends
                part.set_epoch(epoch)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for xb, yb in self.split.batches() if self.shuffle else self.split.ordered():
            xb = normalize(xb.to(self.device, non_blocking=True), self.spec, self._norm)
            if self.augment is not None:
                xb = self.augment(xb)
            yield xb, yb.to(self.device, non_blocking=True)


def make_batches(split: Any, spec: DataSpec, batch_size: int, device: torch.device,
                 shuffle: bool = False, seed: int = 0, augment: Any = None,
                 workers: int | None = None, shard: tuple[int, int] = (0, 1)) -> Any:
    """`Batches` for an in-memory split, `StreamBatches` for a streamed one, `LoaderBatches` for
    a user's DataLoader or torch Dataset (`gradkit.data.torchdata.LoaderSplit`).

    `workers` (DataLoader processes, streamed data only) defaults to min(4, CPUs - 1): the
    main process needs a core of its own to train.
    """
    if isinstance(split, Split):
        return Batches(split, spec, batch_size, device, shuffle, seed, augment, shard)
    if hasattr(split, "loader"):  # a LoaderSplit: its own batch size, sampler and workers
        return LoaderBatches(split, spec, device, shuffle, augment)
    if workers is None:
        workers = max(0, min(4, (os.cpu_count() or 1) - 1))
    return StreamBatches(split, spec, batch_size, device, shuffle, seed, augment, workers, shard)
