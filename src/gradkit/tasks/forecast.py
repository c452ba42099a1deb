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
from gradkit.tasks import register
from gradkit.tasks.regression import ValueTask


@register("forecast")
class ForecastTask(ValueTask):
    """The next `horizon` values (B, H) of each window: MAE, RMSE and MASE in series units."""

    targets = "series"
    outputs = "forecasts"
    default = True

    def __init__(self, model: nn.Module, spec: Any, cfg: Any) -> None:
        if spec.task != "forecast":
            from gradkit.errors import ConfigError

            raise ConfigError("task.name=forecast needs a series data set (series-csv, sunspots, "
                              "co2, nile)")
        self.horizon, self.mase_scale = spec.horizon, spec.mase_scale
        super().__init__(model, spec, cfg)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        # (B, L, 1) standardised windows -> (B, H) standardised forecasts. -1, not len(x): a
        # traced export (ONNX, TorchScript) would freeze len(x) to its example batch
        return self.model(x).float().reshape(-1, self.horizon)

    def _scores(self, pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
        return forecast_metrics(pred, target, self.mase_scale)

    def _width(self) -> int:
        return self.horizon

    def baselines(self, data: Any, seed: int) -> dict[str, float]:
        """Persistence and seasonal-naive forecasts of the very same test windows."""
        from gradkit.metrics.baselines import forecast_baselines

        return forecast_baselines(data)
