"""Tabular data: scikit-learn's bundled sets, the digits images, and the user's CSV files."""
from __future__ import annotations

import csv
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gradkit.data import register
from gradkit.data.base import DataSpec, Dataset, Split, make_dataset, stratified_split
from gradkit.errors import DataError, did_you_mean

SKLEARN_SETS = {
    # name: (loader, targets, description)
    "iris": ("load_iris", "classes", "150 irises, 4 features"),
    "wine": ("load_wine", "classes", "178 wines, 13 features"),
    "breast-cancer": ("load_breast_cancer", "classes", "569 tumours, 30 features, 2 classes"),
    "diabetes": ("load_diabetes", "values", "442 patients, 10 features, disease progression"),
}


def _split_test(x: torch.Tensor, y: torch.Tensor, fraction: float, seed: int,
                classify: bool) -> tuple[Split, Split]:
    labels = y.numpy() if classify else np.zeros(len(y), dtype=np.int64)
    keep, held = stratified_split(labels, fraction, seed, stratify=classify)
    return Split(x[keep], y[keep]), Split(x[held], y[held])


def load_digits(val_fraction: float, test_fraction: float, seed: int, limit: int | None) -> Dataset:
    """scikit-learn's 1,797 8x8 digit images (values 0..16), as 1-channel images."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    x = torch.from_numpy(bunch.images.astype(np.uint8)).unsqueeze(1)
    y = torch.from_numpy(bunch.target.astype(np.int64))
    train, test = _split_test(x, y, test_fraction, seed, classify=True)
    spec = DataSpec("classification", "image", (1, 8, 8), 10, [str(i) for i in range(10)],
                    pixel_max=16)
    return make_dataset("digits", spec, train, test, val_fraction, seed, limit, "scikit-learn")


def load_sklearn(name: str, val_fraction: float, test_fraction: float, seed: int,
                 limit: int | None) -> Dataset:
    import sklearn.datasets

    loader, targets, _ = SKLEARN_SETS[name]
    bunch = getattr(sklearn.datasets, loader)()
    x = torch.from_numpy(np.asarray(bunch.data, dtype=np.float32))
    classify = targets == "classes"
    task = "classification" if classify else "regression"
    y = torch.from_numpy(np.asarray(bunch.target, dtype=np.int64 if classify else np.float32))
    train, test = _split_test(x, y, test_fraction, seed, classify)
    spec = DataSpec(task, "tabular", (x.shape[1],), len(bunch.target_names) if classify else None,
                    [str(c) for c in bunch.target_names] if classify else None,
                    [str(f) for f in bunch.feature_names])
    return make_dataset(name, spec, train, test, val_fraction, seed, limit, "scikit-learn")


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    """(header, data rows) of a UTF-8 CSV file; blank rows dropped, ragged rows an error."""
    if not path.is_file():
        raise DataError(f"data.path: CSV file not found: {path}")
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text ({exc}); re-save it as UTF-8") from None
    except csv.Error as exc:
        raise DataError(f"{path} is not a readable CSV file ({exc})") from None
    except OSError as exc:
        raise DataError(f"{path} cannot be read ({exc.strerror or exc}); check its permissions") from None
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if len(rows) < 2:
        raise DataError(f"{path} needs a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    for i, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise DataError(f"{path} line {i}: {len(row)} fields, the header has {len(header)}")
    return header, rows[1:]


def cell_number(text: str) -> float | None:
    """One CSV cell as a number: NaN when it is empty, None when it holds something else."""
    text = text.strip()
    if not text:
        return math.nan
    try:
        return float(text)
    except ValueError:
        return None


def parse_numbers(values: list[str], dtype: type = np.float64) -> tuple[np.ndarray, int | None]:
    """A column's cells -> numbers (NaN for empty cells, inf beyond the dtype's range), and the
    index of the first cell that is not a number (None when every one is)."""
    out = np.empty(len(values), dtype=dtype)
    with np.errstate(over="ignore"):
        for i, text in enumerate(values):
            number = cell_number(text)
            if number is None:
                return out, i
            out[i] = number
    return out, None


def _numeric_column(name: str, values: list[str], path: Path) -> np.ndarray:
    out, bad = parse_numbers(values, np.float32)  # beyond float32's range is inf: reported below
    if bad is not None:
        raise DataError(f"{path}: column '{name}' is not numeric ('{values[bad].strip()}' on line "
                        f"{bad + 2}); encode it as numbers (e.g. one-hot) or drop the column")
    missing = [int(i) + 2 for i in np.flatnonzero(np.isnan(out))]
    infinite = [int(i) + 2 for i in np.flatnonzero(np.isinf(out))]
    for lines, what, fix in ((missing, "missing/NaN", "fill or drop those rows"),
                             (infinite, "infinite (or beyond float32's ±3.4e38)",
                              "clip or rescale them, or drop those rows")):
        if lines:
            shown = ", ".join(map(str, lines[:5])) + (" ..." if len(lines) > 5 else "")
            raise DataError(f"{path}: column '{name}' has {len(lines)} {what} values (lines "
                            f"{shown}); {fix}")
    return out


def load_csv(path: str | None, target: str | None, classify: bool, val_fraction: float,
             test_fraction: float, seed: int, limit: int | None) -> Dataset:
    """A CSV file with a header; `target` names the label column (class labels when `classify`,
    else numbers), every other one is a feature."""
    if not path:
        raise DataError("data.name=csv needs data.path=FILE.csv and data.target=COLUMN")
    file = Path(path).expanduser()
    header, rows = read_csv(file)
    if not target or target not in header:
        what = f"target column '{target}' is not in {file}" if target else "data.target is not set"
        raise DataError(f"{what}{did_you_mean(target or '', header)}; columns: {', '.join(header)}")
    t = header.index(target)
    if len(header) < 2:
        raise DataError(f"{file} has only the target column '{target}'; a model needs at least "
                        "one feature column beside it")
    features = [h for i, h in enumerate(header) if i != t]
    columns = list(zip(*rows))
    x = np.stack([_numeric_column(h, list(columns[i]), file)
                  for i, h in enumerate(header) if i != t], axis=1)
    raw_y = [v.strip() for v in columns[t]]
    if any(not v for v in raw_y):
        raise DataError(f"{file}: target column '{target}' has empty values; drop those rows")
    if classify:
        names = sorted(set(raw_y), key=lambda v: (_as_float(v) is None, _as_float(v) or 0.0, v))
        index = {v: i for i, v in enumerate(names)}
        y = torch.tensor([index[v] for v in raw_y], dtype=torch.int64)
    else:
        names = None
        y = torch.from_numpy(_numeric_column(target, list(columns[t]), file))
    train, test = _split_test(torch.from_numpy(x), y, test_fraction, seed, classify)
    spec = DataSpec("classification" if classify else "regression", "tabular", (x.shape[1],),
                    len(names) if classify else None, names, features)
    return make_dataset(file.stem, spec, train, test, val_fraction, seed, limit, str(file))


def _as_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


@register("digits", "classes", "scikit-learn's 1,797 8x8 handwritten digits (bundled)")
def _digits(cfg: Any, targets: str, seed: int) -> Dataset:
    return load_digits(cfg.val_fraction, cfg.test_fraction, seed, cfg.limit)


def _sklearn(name: str) -> Callable[..., Dataset]:
    def build(cfg: Any, targets: str, seed: int) -> Dataset:
        return load_sklearn(name, cfg.val_fraction, cfg.test_fraction, seed, cfg.limit)

    return build


for _name, (_, _targets, _about) in SKLEARN_SETS.items():
    register(_name, _targets, _about)(_sklearn(_name))


@register("csv", "any", "your CSV file: data.path=FILE data.target=COLUMN")
def _csv(cfg: Any, targets: str, seed: int) -> Dataset:
    return load_csv(cfg.path, cfg.target, targets == "classes", cfg.val_fraction,
                    cfg.test_fraction, seed, cfg.limit)
