"""What every export format holds: the trained model plus its preprocessing, as one module.

An exported model takes *raw* inputs, as `Run.predict` does after `as_batch` (pixel values
0..pixel_max as float32, feature values in the training CSV's units, series windows, or
token ids as int64), and returns what `task.predict` returns (class probabilities, values in
target units, forecasts). The normalisation statistics are buffers inside the graph, so an
ONNX or TorchScript file needs nothing from gradkit to be used correctly.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gradkit.data import DataSpec
from gradkit.data.base import norm_params
from gradkit.errors import DataError

HELD_OUT = 256  # test examples each export is checked on
# Outputs are probabilities or values in target units: an absolute floor for the first, a
# relative part for large regression targets (fp32 kernels differ between runtimes by ~1e-6).
ATOL, RTOL = 1e-4, 1e-4


class Predictor(nn.Module):
    """Raw inputs -> the task's predictions; the traced, scripted and exported module.

    >>> p = Predictor(gk.load("runs/digits-cnn/...").task, spec).eval()
    >>> p(torch.rand(4, 1, 8, 8) * 16).sum(1)   # class probabilities
    """

    def __init__(self, task: Any, spec: DataSpec) -> None:
        super().__init__()
        self.task_module = task.model  # registered, so .eval() and the weights reach it
        self._predict = task.predict
        self.text = spec.kind == "text"
        if not self.text:
            ndim = len(spec.input_shape) + 1
            mean, inv_std = norm_params(spec, ndim, torch.device("cpu"))
            self.register_buffer("mean", mean)
            self.register_buffer("inv_std", inv_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.text:  # (N, L) int64 token ids go to the embedding as they are
            return self._predict(x)
        return self._predict((x.float() - self.mean) * self.inv_std)


def example_dtype(spec: DataSpec) -> torch.dtype:
    return torch.int64 if spec.kind == "text" else torch.float32


def held_out(run: Any, data_dir: str | None = None, n: int = HELD_OUT) -> torch.Tensor:
    """The first `n` test examples of the run's own data set, raw, as the exported model takes them
    (for data given to gk.fit in Python, the ones the run kept: artifacts/held_out.npz)."""
    kept = Path(run.dir) / "artifacts" / "held_out.npz"
    if kept.is_file():
        with np.load(kept) as saved:
            return torch.from_numpy(saved["x"][:n]).to(example_dtype(run.spec))
    try:
        data = run.data(data_dir)
    except DataError as exc:
        raise DataError(f"every export is checked on the run's test data, which could not be "
                        f"loaded: {exc}\n  pass --data-dir where the data set is now") from None
    test = data.test if len(data.test) else data.val
    split = test.take(np.arange(min(n, len(test))))
    return split.x.to(example_dtype(run.spec))


@torch.inference_mode()
def reference(run: Any, x: torch.Tensor) -> np.ndarray:
    """What the original model predicts for the raw batch `x`: the oracle of every check."""
    from gradkit.data import normalize

    run.model.eval()
    return run.task.predict(normalize(x, run.spec)).float().numpy()


def compare(expected: np.ndarray, got: np.ndarray) -> dict[str, Any]:
    """Max abs difference and whether it is within ATOL + RTOL * |expected| everywhere."""
    got = np.asarray(got, dtype=np.float32)
    if got.shape != expected.shape:
        return {"max_abs_diff": float("inf"), "ok": False,
                "detail": f"output shape {got.shape} differs from the original's {expected.shape}"}
    diff = np.abs(got - expected)
    ok = bool(np.all(diff <= ATOL + RTOL * np.abs(expected)))
    return {"max_abs_diff": float(diff.max()) if diff.size else 0.0, "ok": ok,
            "n_examples": int(expected.shape[0]), "atol": ATOL, "rtol": RTOL}
