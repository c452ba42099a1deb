"""Look at a data set before training on it (`gradkit doctor --check-data RECIPE`, whose
command is gradkit/doctor.py): what silently spoils a run: empty splits, missing or infinite
values, class imbalance, classes missing from a split, the same example in train and test
(leakage: the test score then partly measures memory), identical inputs with different labels,
image sizes and modes, text lengths against `data.max_length`.

Errors mean the data cannot train, or its test score would mean nothing: the command exits 1.
Warnings are printed and the exit code stays 0.

    gradkit doctor --check-data digits-mlp
    gradkit doctor --check-data my.yaml data.path=houses.csv data.target=price
"""
from __future__ import annotations

import hashlib
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from gradkit.data.base import Dataset, StreamSplit
from gradkit.errors import DataError

Level = Literal["ok", "warning", "error"]
SPLITS = ("train", "val", "test")
IMBALANCE_RATIO = 3.0  # largest / smallest class in train above which accuracy flatters
TRUNCATED_SHARE = 0.05  # share of texts cut at data.max_length above which we warn
TRAIN_DUPLICATES_SHARE = 0.05  # repeated training examples above which we warn
SHOWN = 5  # examples named in a message


@dataclass(frozen=True)
class Finding:
    check: str
    level: Level
    detail: str


@dataclass
class DataCheck:
    """What `check_data` found about one data set."""

    name: str
    source: str
    findings: list[Finding] = field(default_factory=list)

    def count(self, level: Level) -> int:
        return sum(f.level == level for f in self.findings)


def check_dataset(data: Dataset, labels: bool, windows: bool = False) -> list[Finding]:
    """Every check that applies to a built data set, in the order they are printed. `labels`:
    its targets are class labels (balance, conflicting labels, text lengths); `windows`: its
    examples are overlapping windows of one stream (series, text), which repeat by design."""
    spec = data.spec
    found = [_sizes(data), *_finite(data)]
    if labels:
        found += _balance(data)
    if not windows:
        found += _duplicates(data, labels)
    if spec.kind == "image":
        found += _pixels(data)
    if spec.kind == "text" and labels:
        found.append(_text_lengths(data))
    found += [Finding("loading", "warning", note) for note in data.notes]
    return found


# ---------------------------------------------------------------- checks of a built data set


def _sizes(data: Dataset) -> Finding:
    n = {s: len(getattr(data, s)) for s in SPLITS}
    text = ", ".join(f"{s} {k:,}" for s, k in n.items())
    if not n["train"] or not (n["test"] or n["val"]):
        return Finding("splits", "error", f"{text}: training needs train examples, and test (or "
                       "validation) ones to measure it on")
    if not n["test"]:  # data given in Python without test_data: its figures are validation's
        return Finding("splits", "warning", f"{text}: no test split, so the final figures are "
                       "the validation split's (the one the best epoch was picked on); pass test_data")
    if not n["val"]:
        return Finding("splits", "warning", f"{text}: no validation split, so the best epoch is "
                       "picked on test and the test score is optimistic; set data.val_fraction=0.1")
    return Finding("splits", "ok", text)


def _finite(data: Dataset) -> list[Finding]:
    found = []
    floating = False
    for name in SPLITS:
        split = getattr(data, name)
        if isinstance(split, StreamSplit) or not len(split):
            continue
        for what, t in (("inputs", split.x), ("targets", split.y)):
            if not t.is_floating_point():
                continue
            floating = True
            bad = ~torch.isfinite(t.reshape(len(t), -1))
            if bad.any():
                cols = ""
                names = data.spec.feature_names
                if what == "inputs" and names and bad.shape[1] == len(names):
                    worst = [names[i] for i in torch.nonzero(bad.any(0)).flatten().tolist()]
                    cols = f" (columns {', '.join(worst[:SHOWN])}{' ...' if len(worst) > SHOWN else ''})"
                found.append(Finding("finite values", "error", (
                    f"{name} {what}: {int(torch.isnan(t).sum())} NaN and {int(torch.isinf(t).sum())} "
                    f"infinite values in {int(bad.any(1).sum())} examples{cols}; fill or drop them")))
    if not found:
        found.append(Finding("finite values", "ok", "no NaN or infinite values" if floating else
                             "integer inputs (pixels or token ids): no NaN possible"))
    return found


def _balance(data: Dataset) -> list[Finding]:
    k = data.spec.num_classes or int(data.train.y.max()) + 1
    names = data.spec.class_names or [str(i) for i in range(k)]
    counts = {s: np.bincount(getattr(data, s).y.numpy(), minlength=k) for s in SPLITS}
    train = counts["train"]
    if k < 2 or (train > 0).sum() < 2:
        return [Finding("class balance", "error", f"only one class in train ({names[int(train.argmax())]}); "
                        "a classifier needs at least two")]
    found = []
    missing = [names[i] for i in np.flatnonzero(train == 0)]
    if missing:
        found.append(Finding("class balance", "error", f"{len(missing)} class(es) have no training "
                             f"example ({_some(missing)}): the model cannot learn them"))
    present = train[train > 0]
    ratio = present.max() / present.min()
    detail = (f"{k} classes, {present.min():,} to {present.max():,} training examples each "
              f"(ratio {ratio:.1f}); the largest, '{names[int(train.argmax())]}', is "
              f"{train.max() / train.sum():.0%} of train")
    if k <= 20:
        detail += ": " + ", ".join(f"{n} {c}" for n, c in zip(names, train))
    if ratio > IMBALANCE_RATIO:
        found.append(Finding("class balance", "warning", detail + ". Accuracy flatters an "
                             "imbalanced set: read the report's per-class recall and macro F1"))
    else:
        found.append(Finding("class balance", "ok", detail))
    absent = [names[i] for i in np.flatnonzero((counts["test"] == 0) & (train > 0))]
    if absent and len(data.test):
        found.append(Finding("class balance", "warning", f"{len(absent)} class(es) never appear in "
                             f"test ({_some(absent)}): their accuracy goes unmeasured"))
    return found


def _duplicates(data: Dataset, labels: bool) -> list[Finding]:
    hashes = {s: _hashes(getattr(data, s)) for s in SPLITS}
    if hashes["train"] is None:
        return []
    seen = set(hashes["train"])
    found = []
    for other in ("test", "val"):
        h = hashes[other] or []
        leaked = sum(x in seen for x in h)
        if leaked:
            found.append(Finding(f"train/{other} overlap", "warning", (
                f"{leaked:,} of {len(h):,} {other} examples ({leaked / len(h):.1%}) are identical "
                f"to a training example: the {other} score partly measures memory; remove them "
                f"from one side")))
        elif other == "test":
            found.append(Finding("train/test overlap", "ok",
                                 f"none of the {len(h):,} test examples is identical to a training one"))
    repeats = len(hashes["train"]) - len(seen)
    if repeats:
        share = repeats / len(hashes["train"])
        level = "warning" if share > TRAIN_DUPLICATES_SHARE else "ok"
        found.append(Finding("duplicates in train", level,
                             f"{repeats:,} training examples ({share:.1%}) repeat another one"))
    if labels:
        found += _conflicts(data, hashes)
    return found


def _conflicts(data: Dataset, hashes: dict[str, list[bytes] | None]) -> list[Finding]:
    labels: dict[bytes, set[int]] = defaultdict(set)
    for s in SPLITS:
        for h, y in zip(hashes[s] or [], getattr(data, s).y.tolist()):
            labels[h].add(y)
    clash = sum(len(v) > 1 for v in labels.values())
    if not clash:
        return []
    return [Finding("conflicting labels", "warning", f"{clash:,} distinct inputs appear with "
                    "different labels; no model can get all of them right: check the labelling")]


def _hashes(split: Any) -> list[bytes] | None:
    """A digest per example: its raw text, the bytes of its file (streamed images) or of its
    raw input tensor (pixels as stored, CSV rows as parsed)."""
    if not len(split):
        return []
    if isinstance(split, StreamSplit):
        samples = getattr(split.dataset, "samples", None)
        return None if samples is None else [_digest(Path(p).read_bytes()) for p, _ in samples]
    if split.text is not None:
        return [_digest(t.encode("utf-8")) for t in split.text]
    rows = split.x.reshape(len(split), -1).contiguous().numpy()
    return [_digest(row.tobytes()) for row in rows]


def _digest(raw: bytes) -> bytes:
    return hashlib.blake2b(raw, digest_size=16).digest()


def _pixels(data: Dataset) -> list[Finding]:
    shape = "x".join(map(str, data.spec.input_shape))
    split = data.train
    if isinstance(split, StreamSplit):
        return [Finding("image shape", "ok", f"every image is read as {shape} (C x H x W), streamed "
                        "from disk")]
    x = split.x.reshape(len(split), -1)
    lo, hi = int(x.min()), int(x.max())
    found = [Finding("image shape", "ok", f"{len(split):,} training images of {shape} (C x H x W), "
                     f"pixel values {lo}..{hi} (white = {data.spec.pixel_max})")]
    if hi > data.spec.pixel_max:
        found.append(Finding("pixel range", "error", f"pixels reach {hi}, above the white value "
                             f"{data.spec.pixel_max} the normalisation assumes"))
    blank = int((x.amax(1) == x.amin(1)).sum())
    if blank:
        found.append(Finding("blank images", "warning", f"{blank:,} training images are one flat "
                             "colour: check those files"))
    return found


def _text_lengths(data: Dataset) -> Finding:
    width = data.spec.input_shape[0]
    lengths = (data.train.x != 0).sum(1).numpy()
    full = float((lengths >= width).mean())
    q50, q95 = np.percentile(lengths, [50, 95])
    detail = (f"tokens per training text: median {q50:.0f}, 95th percentile {q95:.0f}, longest "
              f"{lengths.max()} (data.max_length={width}); {full:.1%} fill the limit")
    if full > TRUNCATED_SHARE:
        return Finding("text length", "warning", detail + f", so they are probably cut: raise "
                       f"data.max_length (e.g. to {2 * width}) if their ends matter")
    return Finding("text length", "ok", detail)


# ---------------------------------------------------------------- raw files


def scan_csv(path: Path, target: str | None) -> list[Finding]:
    """Every problem of a CSV's columns at once (the loader stops at the first), and repeats."""
    from gradkit.data.tabular import cell_number, read_csv

    try:
        header, rows = read_csv(path)
    except DataError:
        return []  # the loading error already says why
    found = []
    for j, name in enumerate(header):
        missing, infinite, text = [], [], []
        for line, row in enumerate(rows, start=2):
            value = row[j].strip()
            number = cell_number(value)
            if number is None:
                (text if value else missing).append((line, value))
            elif math.isnan(number):
                missing.append((line, value))
            elif math.isinf(number) or abs(number) > 3.4e38:
                infinite.append((line, value))
        if name == target:
            missing, infinite, text = missing, [], []  # a class label may be any text
        parts = [f"{len(v)} {what} (line{'s' * (len(v) > 1)} {_some([str(line) for line, _ in v])})"
                 for v, what in ((missing, "missing/NaN"), (infinite, "infinite"),
                                 (text, "not numeric")) if v]
        if parts:
            example = f", e.g. '{text[0][1]}'" if text else ""
            found.append(Finding(f"column '{name}'", "error", "; ".join(parts) + example))
    repeats = Counter(tuple(c.strip() for c in r) for r in rows)
    extra = sum(n - 1 for n in repeats.values())
    if extra:
        found.append(Finding("duplicate rows", "warning", f"{extra:,} rows repeat an earlier row "
                             "exactly; after a random split some sit in both train and test"))
    return found


def scan_images(root: Path, shape: tuple[int, ...] | None = None) -> list[Finding]:
    """Sizes and colour modes of an image folder's files as stored, before any resize."""
    from PIL import Image
    from torchvision.datasets.folder import IMG_EXTENSIONS

    sizes: Counter[tuple[int, int]] = Counter()
    modes: Counter[str] = Counter()
    bad = []
    for p in sorted(root.rglob("*")):
        if p.suffix.lower() not in IMG_EXTENSIONS or not p.is_file():
            continue
        try:
            with Image.open(p) as img:
                sizes[img.size] += 1
                modes[img.mode] += 1
                img.verify()
        except Exception as exc:  # PIL raises many kinds for a broken file
            bad.append(f"{p.relative_to(root)} ({type(exc).__name__})")
    found = []
    if bad:
        found.append(Finding("unreadable images", "error", f"{len(bad)} file(s) cannot be read: "
                             f"{_some(bad)}; delete or replace them"))
    target = f"{shape[2]}x{shape[1]}" if shape else "one size"
    if len(sizes) > 1:
        (w0, h0), (w1, h1) = min(sizes), max(sizes)
        aspects = {round(w / h, 2) for w, h in sizes}
        level = "warning" if len(aspects) > 1 else "ok"
        found.append(Finding("image sizes", level, f"{len(sizes)} sizes from {w0}x{h0} to {w1}x{h1} "
                             f"(W x H), all resized to {target}"
                             + ("; mixed aspect ratios get stretched" if level == "warning" else "")))
    elif sizes:
        found.append(Finding("image sizes", "ok", f"every file is {_size(next(iter(sizes)))}, read as {target}"))
    if len(modes) > 1:
        found.append(Finding("colour modes", "warning", "files mix colour modes ("
                             + ", ".join(f"{m} {n}" for m, n in modes.most_common())
                             + "); all are converted to one (data.channels)"))
    return found


def _size(wh: tuple[int, int]) -> str:
    return f"{wh[0]}x{wh[1]}"


def _some(items: Sequence[str]) -> str:
    return ", ".join(items[:SHOWN]) + (" ..." if len(items) > SHOWN else "")
