"""A finished run as an object: metrics, the trained model, and prediction on raw inputs."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from gradkit.data import DataSpec, normalize
from gradkit.errors import DataError


def as_batch(x: Any, spec: DataSpec) -> torch.Tensor:
    """Raw inputs (numpy, torch or lists) -> a batch tensor of shape (N, *input_shape).

    Images are in the data set's raw units (0..255 uint8 for MNIST-like sets); rows are the
    raw feature values, in the training data's column order; texts are strings (one or a list),
    tokenised as in training; a series takes windows of its last `input_length` raw values.
    """
    if spec.kind == "text":
        from gradkit.data.text import encode

        texts = [x] if isinstance(x, str) else list(x)
        if not all(isinstance(t, str) for t in texts):
            raise DataError("this run was trained on text: pass a string or a list of strings")
        return encode(texts, spec)[0]
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    shape = tuple(spec.input_shape)
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
    except (OSError, UnidentifiedImageError) as exc:
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


class Run:
    """A trained run: `run.metrics`, `run.predict(x)`, `run.classify(x)`, `run.dir`.

    >>> run = gk.train("digits-mlp")
    >>> run.metrics["test/accuracy"]
    0.97...
    >>> run.predict(images).argmax(1)   # probabilities per class, like Keras' predict
    """

    def __init__(self, path: Path, config: Any, spec: DataSpec, model: torch.nn.Module,
                 task: Any, metrics: dict[str, float], device: torch.device) -> None:
        self.dir = Path(path)
        self.config = config
        self.spec = spec
        self.model = model
        self.task = task
        self.metrics = metrics
        self.device = device

    def __repr__(self) -> str:
        key = next((k for k in ("test/accuracy", "test/nelbo", "test/mse", "test/d_loss")
                    if k in self.metrics), "test/rmse")
        return f"Run('{self.dir}', {key}={self.metrics.get(key, float('nan')):.4f})"

    def data(self, data_dir: str | None = None) -> Any:
        """The run's data set, rebuilt from its own config (`data_dir`: where to find it now)."""
        import gradkit.data

        cfg = self.config
        data_cfg = cfg.data.model_copy(update={"dir": data_dir}) if data_dir else cfg.data
        return gradkit.data.build(data_cfg, cfg.task.name, cfg.seed)

    @property
    def class_names(self) -> list[str] | None:
        return self.spec.class_names

    @torch.inference_mode()
    def predict(self, x: Any, batch_size: int = 1024) -> np.ndarray:
        """Raw inputs -> class probabilities (N, K), regression values (N,) or forecasts (N, H)."""
        self.model.eval()
        batch = as_batch(x, self.spec)
        outs = [self.task.predict(normalize(chunk.to(self.device), self.spec)).cpu()
                for chunk in batch.split(batch_size)]
        return torch.cat(outs).numpy()

    def classify(self, x: Any, k: int = 3) -> list[list[tuple[str, float]]]:
        """Top-k (label, probability) per example."""
        if self.spec.task != "classification":
            raise DataError("classify() needs a classification run; use predict()")
        probs = self.predict(x)
        names = self.spec.class_names or [str(i) for i in range(probs.shape[1])]
        top = np.argsort(-probs, axis=1)[:, :k]
        return [[(names[j], float(p[j])) for j in row] for p, row in zip(probs, top)]

    def report(self) -> Path:
        """(Re)build report.html and return its path."""
        from gradkit.report import build_report

        return build_report(self.dir)
