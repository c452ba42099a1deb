"""Forecasting: the next `horizon` values of a series from its last `input_length` values.

The model sees standardised inputs (B, L, 1) and is trained on standardised targets (B, H)
(mse by default; mae or huber through `task.loss`); metrics are reported in the series' own
units: MAE, RMSE and MASE. MASE divides the MAE by the in-sample MAE of the naive forecast on
the training part: the one-step naive (y_t - y_{t-1}) when the data has no season, the
seasonal naive (y_t - y_{t-m}) when `data.season` m > 1 (Hyndman & Koehler 2006, "Another look
at measures of forecast accuracy"). A MASE below the persistence baseline's means the model
beats repeating the last value on the very same test windows.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gradkit.metrics import forecast_metrics
from gradkit.tasks import TASKS, StepFn
from gradkit.tasks.regression import value_loss


class ForecastTask:
    def __init__(self, model: nn.Module, spec: Any, cfg: Any) -> None:
        self.models = {"model": model}
        self.model = model
        self.loss_fn = value_loss(cfg, "forecast")
        if spec.task != "forecast":
            from gradkit.errors import ConfigError

            raise ConfigError("task.name=forecast needs a series data set (series-csv, sunspots, "
                              "co2, nile)")
        self.mean, self.std = spec.target_mean, spec.target_std
        self.horizon, self.mase_scale = spec.horizon, spec.mase_scale
        self._reset()

    def _scaled(self, y: torch.Tensor) -> torch.Tensor:
        return (y.float() - self.mean) / self.std

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        # -1, not len(x): a traced export (ONNX, TorchScript) would freeze len(x) to its example batch
        return self.model(x).float().reshape(-1, self.horizon)  # (B, H), standardised

    def train_step(self, batch, step: StepFn) -> dict[str, torch.Tensor]:
        x, y = batch  # (B, L, 1) standardised, (B, H) in series units
        loss = self.loss_fn(self._forward(x), self._scaled(y))
        step(loss, "model")
        return {"loss": loss.detach()}

    def _reset(self) -> None:
        self._preds: list[torch.Tensor] = []
        self._targets: list[torch.Tensor] = []

    def eval_step(self, batch) -> None:
        x, y = batch
        self._preds.append(self._forward(x).cpu())
        self._targets.append(y.float().cpu())

    def eval_end(self) -> tuple[dict[str, float], dict[str, Any]]:
        scaled = torch.cat(self._preds)  # (N, H)
        target = torch.cat(self._targets)
        loss = float(self.loss_fn(scaled, self._scaled(target)))
        pred = scaled * self.std + self.mean
        self._reset()
        return {"loss": loss, **forecast_metrics(pred, target, self.mase_scale)}, {}

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised windows (N, L, 1) -> forecasts (N, horizon) in series units."""
        return self._forward(x) * self.std + self.mean


TASKS.register("forecast", ForecastTask)
