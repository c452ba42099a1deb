"""MNIST, Fashion-MNIST and CIFAR-10: found on disk first, downloaded only as a last resort.

IDX files (MNIST family) are read directly, gzipped or not, in our layout, torchvision's
(`FashionMNIST/raw/`) or Debian's (`/usr/share/datasets/fashion-mnist/`).
"""
from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import torch

from gradkit.data import register
from gradkit.data.base import DataSpec, Dataset, Split, make_dataset
from gradkit.data.resolve import cache_dir, missing_message, search_dirs
from gradkit.errors import DataError

FASHION_CLASSES = ["t-shirt/top", "trouser", "pullover", "dress", "coat",
                   "sandal", "shirt", "sneaker", "bag", "ankle boot"]
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
                 "dog", "frog", "horse", "ship", "truck"]
IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
MNIST_FAMILY = {
    # name: (sub-folders to try, torchvision class, classes, how to get it offline)
    "mnist": (["mnist", "MNIST/raw"], "MNIST", [str(i) for i in range(10)],
              "run once online (it downloads to the cache), or copy the four IDX files "
              "from http://yann.lecun.com/exdb/mnist/"),
    "fashion-mnist": (["fashion-mnist", "FashionMNIST/raw"], "FashionMNIST", FASHION_CLASSES,
                      "`sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or run "
                      "once online, or copy the four IDX files from "
                      "https://github.com/zalandoresearch/fashion-mnist"),
}


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally .gz) into a numpy array, checking its declared size."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"{path} cannot be read ({exc}); the file is damaged: delete it and "
                        "fetch it again") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path} is not an IDX file of unsigned bytes (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise DataError(f"{path} is truncated or damaged: expected {expected} bytes for shape "
                        f"{dims}, found {len(raw)}; delete it and fetch it again")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def find_idx(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def _load_idx_folder(folder: Path, name: str, part: str) -> Split:
    images_path = find_idx(folder, IDX_FILES[part][0])
    labels_path = find_idx(folder, IDX_FILES[part][1])
    if images_path is None or labels_path is None:
        raise DataError(f"{folder} holds only part of '{name}': {IDX_FILES[part]} missing")
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(f"'{name}' {part}: {images_path.name} has shape {images.shape} but "
                        f"{labels_path.name} has {labels.shape}; the files do not belong together")
    if labels.max() >= 10:
        raise DataError(f"'{name}' {part}: label {labels.max()} out of range 0..9 in {labels_path}")
    return Split(torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64)))


def _download(name: str, tv_class: str) -> Path:
    import torchvision.datasets as tvd

    root = cache_dir()
    getattr(tvd, tv_class)(root=str(root), train=True, download=True)
    getattr(tvd, tv_class)(root=str(root), train=False, download=True)
    return root / tv_class / "raw"


def find_mnist_family(name: str, data_dir: str | None, download: bool) -> Path:
    """The folder holding the four IDX files of `name`, downloading into the cache if allowed."""
    subdirs, tv_class, _, how = MNIST_FAMILY[name]
    looked = search_dirs(name, data_dir, subdirs)
    for folder in looked:
        if find_idx(folder, IDX_FILES["train"][0]) and find_idx(folder, IDX_FILES["test"][1]):
            return folder
    error = None
    if download:
        try:
            return _download(name, tv_class)
        except Exception as exc:  # network errors come in many types; all mean "offline"
            error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    raise DataError(missing_message(name, looked, how, error))


def load_mnist_family(name: str, data_dir: str | None, download: bool, val_fraction: float,
                      seed: int, limit: int | None) -> Dataset:
    folder = find_mnist_family(name, data_dir, download)
    classes = MNIST_FAMILY[name][2]
    spec = DataSpec("classification", "image", (1, 28, 28), 10, list(classes))
    train = _load_idx_folder(folder, name, "train")
    test = _load_idx_folder(folder, name, "test")
    return make_dataset(name, spec, train, test, val_fraction, seed, limit, str(folder))


class _ArraysOnly(pickle.Unpickler):
    """CIFAR-10's batches are pickles: allow what rebuilds numpy arrays, refuse any other
    global, so a doctored batch file cannot run code when it is read."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}  # encode: bytes

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"it refers to {module}.{name}, which a data batch never does")
        return super().find_class(module, name)


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as fh:
            entry = _ArraysOnly(fh, encoding="latin1").load()
        x = np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        y = np.asarray(entry.get("labels", entry.get("fine_labels")), dtype=np.int64)
    except Exception as exc:
        raise DataError(f"{path} is not a readable CIFAR-10 batch ({exc}); delete the folder "
                        "and fetch it again") from None
    return x, y


def load_cifar10(data_dir: str | None, download: bool, val_fraction: float, seed: int,
                 limit: int | None) -> Dataset:
    looked = search_dirs("cifar10", data_dir, ["cifar-10-batches-py", "cifar10/cifar-10-batches-py"])
    folder = next((p for p in looked if (p / "data_batch_1").is_file()), None)
    error = None
    if folder is None and download:
        try:
            import torchvision.datasets as tvd

            tvd.CIFAR10(root=str(cache_dir()), train=True, download=True)
            folder = cache_dir() / "cifar-10-batches-py"
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
    if folder is None:
        raise DataError(missing_message(
            "cifar10", looked, "run once online (it downloads 170 MB to the cache), or unpack "
            "cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html", error))
    parts = [_read_cifar_batch(folder / f"data_batch_{i}") for i in range(1, 6)]
    train = Split(torch.from_numpy(np.concatenate([p[0] for p in parts])),
                  torch.from_numpy(np.concatenate([p[1] for p in parts])))
    tx, ty = _read_cifar_batch(folder / "test_batch")
    spec = DataSpec("classification", "image", (3, 32, 32), 10, list(CIFAR_CLASSES))
    return make_dataset("cifar10", spec, train, Split(torch.from_numpy(tx), torch.from_numpy(ty)),
                        val_fraction, seed, limit, str(folder))


@register("mnist", "classes", "70,000 28x28 handwritten digits")
def _mnist(cfg, targets: str, seed: int) -> Dataset:
    return load_mnist_family("mnist", cfg.dir, cfg.download, cfg.val_fraction, seed, cfg.limit)


@register("fashion-mnist", "classes", "70,000 28x28 Zalando clothing images")
def _fashion_mnist(cfg, targets: str, seed: int) -> Dataset:
    return load_mnist_family("fashion-mnist", cfg.dir, cfg.download, cfg.val_fraction, seed,
                             cfg.limit)


@register("cifar10", "classes", "60,000 32x32 colour images, 10 classes")
def _cifar10(cfg, targets: str, seed: int) -> Dataset:
    return load_cifar10(cfg.dir, cfg.download, cfg.val_fraction, seed, cfg.limit)
