"""Raw inputs (arrays, image files, texts, series windows) -> a batch shaped like a data set's
examples, in its raw units: what `Run.predict`, `gradkit predict`, `gradkit serve` and the
commands on generative runs feed a trained model."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from gradkit.data.base import DataSpec
from gradkit.errors import DataError


def as_batch(x: Any, spec: DataSpec) -> torch.Tensor:
    """Raw inputs (numpy, torch or lists) -> a batch tensor of shape (N, *input_shape).

    Images are in the data set's raw units (0..255 uint8 for MNIST-like sets), channels first or
    last; rows are the raw feature values, in the training data's column order, or a DataFrame
    with the training one's columns; texts are strings (one or a list), tokenised as in training;
    a series takes windows of its last `input_length` raw values.
    """
    if spec.kind == "text" and spec.tokenizer is not None:
        from gradkit.data.text import encode

        texts = [x] if isinstance(x, str) else list(x)
        if not all(isinstance(t, str) for t in texts):
            raise DataError("this run was trained on text: pass a string or a list of strings")
        return encode(texts, spec)[0]
    if spec.columns is not None and hasattr(x, "columns"):  # a DataFrame, encoded as in training
        from gradkit.data.frames import encode_frame

        return encode_frame(x, {"columns": spec.columns, "categories": spec.categories or {}},
                            "the DataFrame")
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    shape = tuple(spec.input_shape)
    if len(shape) == 3 and t.dim() == 4 and tuple(t.shape[1:]) == (*shape[1:], shape[0]) \
            and shape[0] != shape[2]:
        t = t.permute(0, 3, 1, 2)  # channels-last images (N, H, W, C)
    if spec.kind == "series" and t.dim() in (1, 2) and t.shape[-1] == shape[0]:
        t = t.reshape(-1, *shape)  # one window (L,) or windows (N, L) of past values, oldest first
    if tuple(t.shape) == shape or (len(shape) == 3 and shape[0] == 1 and tuple(t.shape) == shape[1:]):
        t = t.reshape(1, *shape)
    elif len(shape) == 3 and shape[0] == 1 and tuple(t.shape[1:]) == shape[1:]:
        t = t.unsqueeze(1)  # (N, H, W) grey images
    if tuple(t.shape[1:]) != shape:
        raise DataError(f"inputs of shape {tuple(t.shape)} do not match this model, which expects "
                        f"{shape} per example (or a batch (N, {', '.join(map(str, shape))}))")
    return t


def load_image(path: str | Path, spec: DataSpec, invert: str = "auto") -> tuple[np.ndarray, list[str]]:
    """An image file -> raw array shaped like the training images, plus notes on what was done.

    Grey models get a grey image; a different size is resized; with `invert="auto"`, a light
    background is inverted when the training images were light on dark, i.e. dark on average
    (MNIST, Fashion-MNIST, digits; not an image folder of dark ink on white paper).
    """
    from PIL import Image, UnidentifiedImageError

    if len(spec.input_shape) != 3:
        raise DataError("this run was trained on rows, not images; pass a CSV file of rows")
    try:
        img = Image.open(path)
        img.load()
    except Image.DecompressionBombError as exc:  # as training refuses the same file
        raise DataError(f"{path} is too large to decode safely ({exc}); resize it first") from None
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
        raise DataError(f"{path} is not a readable image ({exc})") from None
    return image_array(img, spec, invert)


def image_array(img: Any, spec: DataSpec, invert: str = "auto") -> tuple[np.ndarray, list[str]]:
    """A decoded PIL image -> raw array shaped like the training images, plus notes (see load_image)."""
    from PIL import Image

    c, h, w = spec.input_shape
    notes = []
    img = img.convert("L" if c == 1 else "RGB")
    if img.size != (w, h):
        notes.append(f"resized {img.size[0]}x{img.size[1]} to {w}x{h}")
        img = img.resize((w, h), Image.Resampling.BILINEAR)
    arr = np.asarray(img, dtype=np.float32)
    arr = arr[None] if c == 1 else arr.transpose(2, 0, 1)  # (C, H, W)
    border = np.concatenate([arr[:, 0].ravel(), arr[:, -1].ravel(), arr[:, :, 0].ravel(), arr[:, :, -1].ravel()])
    dark_training = not spec.mean or spec.mean[0] < spec.pixel_max / 2
    if c == 1 and (invert == "yes" or (invert == "auto" and dark_training and border.mean() > 127)):
        arr = 255.0 - arr
        notes.append("inverted (light background; the training images are light on dark)")
    arr = np.round(arr * spec.pixel_max / 255.0)
    return arr.astype(np.uint8), notes


def describe_input(spec: Any) -> dict[str, Any]:
    """What one example is, in words a client of the model (or the server) can follow."""
    units = {"image": f"pixel values 0..{spec.pixel_max} (channels, height, width)",
             "tabular": f"feature values in the training data's units, in this column order: "
                        f"{spec.feature_names}", "text": "token ids of `tokenizer.json`, 0-padded",
             "series": "the last values of the series, oldest first"}
    return {"shape": list(spec.input_shape), "dtype": "int64" if spec.kind == "text" else "float32",
            "batch_axis": 0, "units": units.get(spec.kind, "")}


def read_rows(path: Path, spec: DataSpec, target: str | None = None) -> tuple[Any, list[str]]:
    """A CSV of rows to predict -> the model's inputs, columns matched by name, plus notes.

    The header must name the columns the model was trained on, in any order; the training
    target may be there too (ignored); any other extra or missing column is an error naming
    them. Cells are read as training read them: a non-numeric, empty, NaN or infinite cell is
    refused with its line, as it was in the training file (a DataFrame-trained model encodes its
    categorical columns as it did then).
    """
    from gradkit.data.tabular import _numeric_column, read_csv

    path = Path(path)
    if spec.kind != "tabular":
        raise DataError(f"{path}: a CSV of rows needs a model trained on table rows; this one takes "
                        f"{spec.kind} inputs (pass image files, or use the Python API)")
    trained = list(spec.columns or spec.feature_names or [])
    header, rows = read_csv(path)
    notes = []
    if not trained:  # a model trained on unnamed arrays: columns by position, as given
        if len(header) != spec.input_shape[0]:
            raise DataError(f"{path} has {len(header)} columns; the model takes {spec.input_shape[0]} "
                            "features per row")
        cols = list(zip(*rows))
        return np.stack([_numeric_column(h, list(cols[i]), path) for i, h in enumerate(header)], 1), \
            ["columns taken by position: the model was trained on unnamed features"]
    dupes = sorted({h for h in header if header.count(h) > 1})
    missing = [c for c in trained if c not in header]
    extra = [h for h in header if h not in trained and h != target]
    if dupes or missing or extra:
        parts = ([f"repeats the column(s) {', '.join(dupes)}"] if dupes else []) + \
                ([f"lacks the column(s) {', '.join(missing)}"] if missing else []) + \
                ([f"has column(s) the model was not trained on: {', '.join(extra)}"] if extra else [])
        raise DataError(f"{path} {'; '.join(parts)}; its header must name the training columns "
                        f"({', '.join(trained)}) in any order")
    if target in header:
        notes.append(f"column '{target}' (the training target) ignored")
    if header[:len(trained)] != trained:
        notes.append("columns matched by name")
    if spec.columns is not None:  # trained on a DataFrame: encode as then (categories, one-hot)
        import pandas as pd

        from gradkit.data.frames import encode_frame

        frame = pd.read_csv(path, usecols=trained)
        return encode_frame(frame, {"columns": spec.columns, "categories": spec.categories or {}},
                            str(path)).numpy(), notes
    cols = list(zip(*rows))
    return np.stack([_numeric_column(c, list(cols[header.index(c)]), path) for c in trained], 1), notes
