"""`image-folder`: your own images, one sub-folder per class (torchvision's ImageFolder layout).

    ROOT/train/<class>/*.png   and optionally ROOT/val/<class>/..., ROOT/test/<class>/...
    ROOT/<class>/*.png         (no train/ folder: test and val are carved, stratified, by seed)

Files are decoded by PIL exactly as `predict.load_image` decodes a file to classify (convert to
L or RGB, then a bilinear resize), so an image predicts as it trained. A set whose decoded uint8
size fits `data.memory_limit_mb` is decoded once into tensors and takes the in-memory fast path;
a larger one (or `data.in_memory=false`) is streamed from disk by DataLoader workers.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset as TorchDataset

from gradkit.data import register
from gradkit.data.base import DataSpec, Dataset, Split, StreamSplit, fit_stats, stratified_split
from gradkit.errors import DataError

if TYPE_CHECKING:
    from gradkit.config import DataConfig

Samples = list[tuple[str, int]]  # (file, class index), as torchvision's make_dataset lists them

LAYOUT = ("data.dir=FOLDER must hold one sub-folder of images per class (FOLDER/<class>/*.png), "
          "or train/ (and optionally val/ and test/) folders laid out that way")
GREY_MODES = {"1", "L", "LA", "I", "I;16", "F"}
UNREADABLE = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)  # what PIL raises
# Streamed sets take their mean and std from a deterministic sample of the training images:
# decoding all of a set too large for memory would cost a whole epoch before the first one.
STATS_IMAGES = 2000
STATS_BYTES = 32 * 2**20  # and at most this much of them decoded (fit_stats works in float64)


class ImageFiles(TorchDataset):
    """(file, label) pairs -> (uint8 (C, H, W), label), decoded on demand."""

    def __init__(self, samples: Samples, channels: int, size: tuple[int, int]) -> None:
        self.samples = samples
        self.channels = channels
        self.size = size  # (H, W)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[i]
        return read_image(path, self.channels, self.size), label


def read_image(path: str, channels: int, size: tuple[int, int]) -> torch.Tensor:
    """An image file -> uint8 (C, H, W) of `size` (H, W), as `predict.load_image` reads it."""
    try:
        with Image.open(path) as img:
            img = img.convert("L" if channels == 1 else "RGB")  # decodes: corrupt files fail here
    except UNREADABLE as exc:
        raise _unreadable(path, exc) from None
    h, w = size
    if img.size != (w, h):
        img = img.resize((w, h), Image.Resampling.BILINEAR)
    # np.array copies the pixels out of PIL in one go: a third of the time pil_to_tensor takes
    pixels = torch.from_numpy(np.array(img))  # (H, W) or (H, W, 3)
    return pixels[None] if channels == 1 else pixels.permute(2, 0, 1)


def _unreadable(path: str, exc: Exception) -> DataError:
    return DataError(f"{path} is not a readable image ({type(exc).__name__}: {exc}); "
                     "delete or replace the file")


@register("image-folder", "classes", "your images: data.dir=FOLDER of <class>/ folders")
def _image_folder(cfg: DataConfig, targets: str, seed: int) -> Dataset:
    return load_image_folder(cfg, seed)


def load_image_folder(cfg: DataConfig, seed: int) -> Dataset:
    """The `image-folder` data set `cfg` describes, decoded in memory or streamed."""
    root = _root(cfg.dir)
    split_layout = (root / "train").is_dir() and bool(_classes(root / "train"))
    train_dir = root / "train" if split_layout else root
    classes = _classes(train_dir)
    if not classes:
        raise DataError(f"{train_dir} holds no class folders; {LAYOUT}")
    if len(classes) < 2:
        raise DataError(f"{train_dir} holds one class folder ({classes[0]}); a classifier needs "
                        "at least 2 classes, one folder each")
    walk = _Walk(root, split_layout)
    train = _list_images(train_dir, classes, walk=walk)
    channels, size = _shape(train[0][0], cfg.channels, cfg.image_size)
    held = {part: _list_images(root / part, classes, train_dir, walk)
            for part in ("val", "test") if split_layout and (root / part).is_dir()}
    test = held.get("test")
    if test is None:
        train, test = _carve(train, cfg.test_fraction, seed)
    if cfg.limit is not None and cfg.limit < len(train):
        train, _ = _carve(train, 1 - cfg.limit / len(train), seed)
    val = held.get("val")
    if val is None:
        train, val = _carve(train, cfg.val_fraction, seed)

    shape = (channels, *size)
    splits = {name: StreamSplit(ImageFiles(s, channels, size),
                                torch.tensor([label for _, label in s], dtype=torch.int64), shape)
              for name, s in (("train", train), ("val", val), ("test", test))}
    decoded = sum(map(len, splits.values())) * int(np.prod(shape))  # bytes, uint8
    in_memory = decoded <= cfg.memory_limit_mb * 2**20 if cfg.in_memory == "auto" else cfg.in_memory
    if in_memory:
        splits = {name: s.take(range(len(s))) for name, s in splits.items()}
    spec = DataSpec("classification", "image", shape, len(classes), classes, pixel_max=255)
    spec.mean, spec.std = fit_stats(_stats_sample(splits["train"], seed).x)
    data = Dataset("image-folder", spec, splits["train"], splits["val"], splits["test"], str(root))
    data.notes.extend(walk.notes())
    return data


def _root(data_dir: str | None) -> Path:
    if not data_dir:
        raise DataError(f"data.name=image-folder needs data.dir=FOLDER: {LAYOUT}")
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise DataError(f"data.dir: folder not found: {root}")
    return root


def _classes(folder: Path) -> list[str]:
    """Class names: the sub-folder names, sorted (hidden ones such as .ipynb_checkpoints skipped)."""
    return sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))


class _Walk:
    """Symbolic links, followed with care: an image counts once, under the class folder it really
    lies in, and only inside the data folder. Links that leave the folder, point into another
    class, repeat a file already counted (in any split: a test image linked to a training one
    would leak) or loop back are skipped and counted for the data notes."""

    def __init__(self, root: Path, splits: bool = False) -> None:
        self.root = os.path.realpath(root)
        self.splits = splits  # root/{train,val,test}/<class>/ rather than root/<class>/
        self.seen: set[str] = set()
        self.skipped = {"outside": 0, "other class": 0, "repeat": 0, "loop": 0}

    @staticmethod
    def _inside(path: str, folder: str) -> bool:
        return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)

    def _class_of(self, real: str) -> str | None:
        """The class folder a real path lies in (its split's, in a split layout)."""
        parts = os.path.relpath(real, self.root).split(os.sep)
        if self.splits:
            parts = parts[1:] if parts and parts[0] in ("train", "val", "test") else []
        return parts[0] if len(parts) > 1 else None

    def images(self, class_dir: Path, extensions: tuple[str, ...]) -> list[str]:
        """The image files under one class folder, sorted, links resolved as above."""
        home = os.path.realpath(class_dir)
        label = class_dir.name
        if not self._inside(home, self.root):
            self.skipped["outside"] += 1
            return []
        out, visited = [], set()
        for dirpath, dirnames, filenames in os.walk(class_dir, followlinks=True):
            here = os.path.realpath(dirpath)
            if here in visited:
                dirnames[:] = []
                continue
            visited.add(here)
            keep = []
            for d in sorted(dirnames):
                real = os.path.realpath(os.path.join(dirpath, d))
                if not self._inside(real, self.root):
                    self.skipped["outside"] += 1
                elif real in visited or self._inside(here, real):  # back up the tree: a loop
                    self.skipped["loop"] += 1
                elif not self._inside(real, home) and self._class_of(real + os.sep + "x") != label:
                    self.skipped["other class"] += 1
                else:
                    keep.append(d)
            dirnames[:] = keep
            for name in sorted(filenames):
                if not name.lower().endswith(extensions):
                    continue
                path = os.path.join(dirpath, name)
                real = os.path.realpath(path)
                if not self._inside(real, self.root):
                    self.skipped["outside"] += 1
                elif real in self.seen:
                    self.skipped["repeat"] += 1
                elif not self._inside(real, home) and self._class_of(real) != label:
                    self.skipped["other class"] += 1
                else:
                    self.seen.add(real)
                    out.append((dirpath, name))
        return [os.path.join(d, n) for d, n in sorted(out)]  # torchvision's make_dataset order

    def notes(self) -> list[str]:
        said = {"outside": "symbolic links leading outside the data folder",
                "other class": "symbolic links pointing into another class's folder",
                "repeat": "files already counted (a link to, or a second path of, the same image)",
                "loop": "folder links looping back on themselves"}
        return [f"skipped {n} {said[k]}" for k, n in self.skipped.items() if n]


def _list_images(folder: Path, classes: list[str], train_dir: Path | None = None,
                 walk: _Walk | None = None) -> Samples:
    """Every image under `folder/<class>/`, sorted; `train_dir` names the folder to match."""
    found = _classes(folder)
    if train_dir is not None and found != classes:
        extra = [c for c in found if c not in classes]
        missing = [c for c in classes if c not in found]
        what = "; ".join(f"{label}: {', '.join(names)}" for label, names in
                         (("not in train", extra), ("missing", missing)) if names)
        raise DataError(f"{folder} must hold the same class folders as {train_dir} ({what})")
    # torchvision is imported here, not with the module: it takes a second or two, and every
    # gradkit.data import registers this loader
    from torchvision.datasets.folder import IMG_EXTENSIONS

    walk = walk or _Walk(folder)
    samples = [(path, i) for i, c in enumerate(classes) for path in walk.images(folder / c, IMG_EXTENSIONS)]
    counts = np.bincount([label for _, label in samples], minlength=len(classes))
    empty = [str(folder / classes[i]) for i in np.flatnonzero(counts == 0)]
    if empty:
        raise DataError(f"class folder(s) with no images: {', '.join(empty)} (image files end in "
                        f"{', '.join(IMG_EXTENSIONS)}); add images or remove the folder(s)")
    return samples


def _shape(first: str, channels: int | None, image_size: int | None) -> tuple[int, tuple[int, int]]:
    """(C, (H, W)) from the config, or from the first training image where it says null."""
    try:
        with Image.open(first) as img:
            mode, (w, h) = img.mode, img.size
    except UNREADABLE as exc:
        raise _unreadable(first, exc) from None
    channels = channels or (1 if mode in GREY_MODES else 3)
    return channels, (image_size, image_size) if image_size else (h, w)


def _carve(samples: Samples, fraction: float, seed: int) -> tuple[Samples, Samples]:
    keep, held = stratified_split(np.array([label for _, label in samples]), fraction, seed)
    return [samples[i] for i in keep], [samples[i] for i in held]


def _stats_sample(train: Split | StreamSplit, seed: int) -> Split:
    if isinstance(train, Split):
        return train
    n = min(len(train), STATS_IMAGES, max(1, STATS_BYTES // int(np.prod(train.input_shape))))
    # the whole split, in order, when it is small: then the statistics equal the in-memory ones
    return train.take(np.sort(np.random.default_rng(seed).permutation(len(train))[:n]))
