"""Metrics through torchmetrics, namespaced by the caller (`val/accuracy`, `test/f1_macro`)."""
from __future__ import annotations

from typing import Any

import torch

# torchmetrics is imported where it is used: importing it takes about 2 s (it imports
# transformers when that is installed), which config checks, RL runs and `--help` need not pay.


def classification_metrics(preds: torch.Tensor, target: torch.Tensor, num_classes: int
                           ) -> tuple[dict[str, float], dict[str, Any]]:
    """Scalars (accuracy, macro precision/recall/F1) and details (confusion matrix, per class).

    `preds` and `target` are class indices of shape (N,).
    """
    from torchmetrics.functional import classification as C

    k = {"num_classes": num_classes}
    scalars = {
        "accuracy": C.multiclass_accuracy(preds, target, average="micro", **k).item(),
        "precision_macro": C.multiclass_precision(preds, target, average="macro", **k).item(),
        "recall_macro": C.multiclass_recall(preds, target, average="macro", **k).item(),
        "f1_macro": C.multiclass_f1_score(preds, target, average="macro", **k).item(),
    }
    details = {
        "confusion_matrix": C.multiclass_confusion_matrix(preds, target, **k).tolist(),
        "per_class": {
            "precision": C.multiclass_precision(preds, target, average="none", **k).tolist(),
            "recall": C.multiclass_recall(preds, target, average="none", **k).tolist(),
            "f1": C.multiclass_f1_score(preds, target, average="none", **k).tolist(),
            "support": torch.bincount(target, minlength=num_classes).tolist(),
        },
    }
    return scalars, details


def regression_metrics(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """MSE, RMSE, MAE and R² in the target's own units."""
    from torchmetrics.functional import regression as R

    mse = R.mean_squared_error(pred, target).item()
    return {
        "mse": mse,
        "rmse": mse ** 0.5,
        "mae": R.mean_absolute_error(pred, target).item(),
        "r2": R.r2_score(pred, target).item() if len(target) > 1 else float("nan"),
    }


def forecast_metrics(pred: torch.Tensor, target: torch.Tensor, mase_scale: float) -> dict[str, float]:
    """MAE, RMSE and MASE over every (window, step) of (N, horizon) forecasts, in series units.

    MASE = MAE / `mase_scale`, the in-sample MAE of the (seasonal) naive forecast on the
    training part (Hyndman & Koehler 2006): below 1 beats that naive forecast's training error.
    """
    from torchmetrics.functional import regression as R

    mse = R.mean_squared_error(pred.flatten(), target.flatten()).item()
    mae = R.mean_absolute_error(pred.flatten(), target.flatten()).item()
    return {"mae": mae, "rmse": mse ** 0.5, "mase": mae / mase_scale}
