"""A pandas DataFrame as a gradkit `Dataset`: numeric columns as they are, booleans as 0/1,
text and categorical columns one-hot, their categories taken from the training rows and kept in
the spec (`DataSpec.columns`, `.categories`) so a new DataFrame encodes the same way.

    ds = from_dataframe(df, target="species")
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gradkit.data.arrays import _dataset, _held_out, _no_nan, encode_labels
from gradkit.data.base import Dataset, Split
from gradkit.errors import DataError


def from_dataframe(df: Any, target: str | None, *, targets: str | None = None,
                   validation_data: Any = None, validation_split: float = 0.1, test_data: Any = None,
                   name: str = "dataframe", seed: int = 0) -> Dataset:
    """A pandas DataFrame whose `target` column holds the labels and every other column a feature:
    numbers as they are, booleans as 0/1, text and categorical columns one-hot (their categories
    from the training part; an unseen one at prediction time is all zeros). Missing values are
    an error naming the column and rows, as for a CSV file. `validation_data` / `test_data`:
    DataFrames with the same columns."""
    if target is None or target not in df.columns:
        what = f"target column '{target}' is not in the DataFrame" if target else "target= is not set"
        raise DataError(f"{what}; name the label column: target=COLUMN (columns: "
                        f"{', '.join(map(str, df.columns))})")
    features = [str(c) for c in df.columns if c != target]
    if not features:
        raise DataError(f"the DataFrame holds only the target column '{target}'; a model needs at "
                        "least one feature column beside it")
    y, names = encode_labels(df[target], targets, len(df), f"column '{target}'")
    targets = targets or ("classes" if names is not None else "values")
    held = _held_out(y, names, validation_data, validation_split, seed)
    train_rows = held[0]
    encoding = fit_columns(df.iloc[train_rows], features)
    x = encode_frame(df, encoding, "the DataFrame")
    parts = {"train": Split(x[train_rows], y[train_rows])}
    if held[1] is not None:
        parts["val"] = Split(x[held[1]], y[held[1]])
    for split_name, given in (("val", validation_data), ("test", test_data)):
        if given is not None:
            frame = given
            parts[split_name] = Split(encode_frame(frame, encoding, f"the {split_name} DataFrame"),
                                      encode_labels(frame[target], targets, len(frame),
                                                    f"{split_name} column '{target}'", names)[0])
    ds = _dataset(name, parts, names, "tabular", targets)
    ds.spec.feature_names = encoding["features"]
    ds.spec.columns, ds.spec.categories = features, encoding["categories"]
    return ds


def fit_columns(frame: Any, features: list[str]) -> dict[str, Any]:
    """How each feature column becomes numbers: numeric as is, categories one-hot (their values
    as they appear in `frame`, the training rows)."""
    categories: dict[str, list[str]] = {}
    names: list[str] = []
    for col in features:
        series = frame[col]
        if series.dtype.kind in "iuf" or series.dtype.kind == "b":
            names.append(col)
            continue
        values = sorted({str(v) for v in series.dropna().tolist()})
        categories[col] = values
        names += [f"{col}={v}" for v in values]
    return {"columns": features, "categories": categories, "features": names}


def encode_frame(frame: Any, encoding: dict[str, Any], what: str) -> torch.Tensor:
    """A DataFrame's feature columns -> float32 rows (N, F) with a fitted encoding."""
    missing = [c for c in encoding["columns"] if c not in frame.columns]
    if missing:
        raise DataError(f"{what} lacks the column(s) {', '.join(missing)} the model was trained on")
    blocks = []
    for col in encoding["columns"]:
        series = frame[col]
        if series.isna().any():
            rows = np.flatnonzero(series.isna().to_numpy())[:5].tolist()
            raise DataError(f"{what}: column '{col}' has {int(series.isna().sum())} missing values "
                            f"(rows {rows}); fill or drop those rows")
        if col in encoding["categories"]:
            text = series.astype(str).to_numpy()
            blocks.append(np.stack([(text == v) for v in encoding["categories"][col]], 1)
                          .astype(np.float32) if encoding["categories"][col]
                          else np.zeros((len(frame), 0), np.float32))
        else:
            if series.dtype.kind not in "iufb":
                raise DataError(f"{what}: column '{col}' holds {series.dtype} values where the "
                                "model was trained on numbers")
            blocks.append(series.to_numpy(dtype=np.float32)[:, None])
    x = np.concatenate(blocks, 1) if blocks else np.zeros((len(frame), 0), np.float32)
    _no_nan(x, f"{what} (a row)")
    return torch.from_numpy(np.ascontiguousarray(x))
