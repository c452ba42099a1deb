"""Metrics through scikit-learn's reference implementations, namespaced by the caller
(`val/accuracy`, `test/f1_macro`).

Not torchmetrics here: importing it costs ~2 s per process (it imports transformers for
BERTScore when that is installed), more than a small run's training; scikit-learn is loaded
anyway for the splits and baselines, and `sklearn.metrics` adds nothing to that. Macro averages
follow torchmetrics' rule (a class absent from both predictions and targets is left out), so the
numbers are the ones torchmetrics gave (tests/test_metrics.py checks both).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch


def _numpy(x: torch.Tensor) -> np.ndarray:
    return x.detach().cpu().float().numpy() if x.is_floating_point() else x.detach().cpu().numpy()


def classification_metrics(preds: torch.Tensor, target: torch.Tensor, num_classes: int
                           ) -> tuple[dict[str, float], dict[str, Any]]:
    """Scalars (accuracy, macro precision/recall/F1) and details (confusion matrix, per class).

    `preds` and `target` are class indices of shape (N,).
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    p, y = _numpy(preds).astype(np.int64), _numpy(target).astype(np.int64)
    labels = list(range(num_classes))
    cm = confusion_matrix(y, p, labels=labels)
    precision, recall, f1, support = precision_recall_fscore_support(
        y, p, labels=labels, average=None, zero_division=0)
    tp = np.diag(cm)
    present = (cm.sum(0) + cm.sum(1) - tp) > 0  # tp + fp + fn > 0: the classes macro averages over

    def macro(values: np.ndarray) -> float:
        return float(values[present].mean()) if present.any() else 0.0

    scalars = {
        "accuracy": float(tp.sum() / max(1, cm.sum())),
        "precision_macro": macro(precision),
        "recall_macro": macro(recall),
        "f1_macro": macro(f1),
    }
    details = {
        "confusion_matrix": cm.tolist(),
        "per_class": {
            "precision": precision.tolist(),
            "recall": recall.tolist(),
            "f1": f1.tolist(),
            "support": support.tolist(),
        },
    }
    return scalars, details


def regression_metrics(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """MSE, RMSE, MAE and R² in the target's own units."""
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    p, y = _numpy(pred), _numpy(target)
    mse = float(mean_squared_error(y, p))
    return {
        "mse": mse,
        "rmse": mse ** 0.5,
        "mae": float(mean_absolute_error(y, p)),
        "r2": float(r2_score(y, p)) if len(y) > 1 else float("nan"),
    }


def forecast_metrics(pred: torch.Tensor, target: torch.Tensor, mase_scale: float) -> dict[str, float]:
    """MAE, RMSE and MASE over every (window, step) of (N, horizon) forecasts, in series units.

    MASE = MAE / `mase_scale`, the in-sample MAE of the (seasonal) naive forecast on the
    training part (Hyndman & Koehler 2006): below 1 beats that naive forecast's training error.
    """
    from sklearn.metrics import mean_absolute_error, mean_squared_error

    p, y = _numpy(pred).reshape(-1), _numpy(target).reshape(-1)
    mse = float(mean_squared_error(y, p))
    mae = float(mean_absolute_error(y, p))
    return {"mae": mae, "rmse": mse ** 0.5, "mase": mae / mase_scale}
