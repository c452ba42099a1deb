"""Regression on standardised targets; metrics are reported in the target's own units."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gradkit.metrics import regression_metrics
from gradkit.tasks import StepFn, register

LOSSES = {"mse": F.mse_loss, "mae": F.l1_loss, "huber": F.huber_loss}


def value_loss(cfg: Any, task: str):
    """The loss `task.loss` names for a task that predicts values (mse when auto)."""
    name = "mse" if cfg.loss == "auto" else cfg.loss
    if name not in LOSSES:
        from gradkit.errors import ConfigError

        raise ConfigError(f"task.loss={cfg.loss} does not fit {task}; use mse, mae or huber")
    return LOSSES[name]


class ValueTask(ABC):
    """The shared core of tasks that predict values (abstract: `regression`, `forecast`).

    The model is trained on targets standardised with the training split's mean and std;
    `_forward` gives its standardised predictions, `predict` and every metric are in the
    targets' own units (`_scores`).
    """

    name = ""  # the task.name (set by @register), in messages
    targets = "values"
    outputs = "values"

    def __init__(self, model: nn.Module, spec: Any, cfg: Any) -> None:
        self.models = {"model": model}
        self.model = model
        self.loss_fn = value_loss(cfg, self.name)
        self.mean, self.std = spec.target_mean, spec.target_std
        self._reset()

    @abstractmethod
    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised inputs -> the model's standardised predictions."""

    @abstractmethod
    def _scores(self, pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
        """Metrics of predictions against targets, in the targets' own units."""

    def _scaled(self, y: torch.Tensor) -> torch.Tensor:
        return (y.float() - self.mean) / self.std

    def train_step(self, batch, step: StepFn) -> dict[str, torch.Tensor]:
        x, y = batch
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
        scaled = torch.cat(self._preds)
        target = torch.cat(self._targets)
        loss = float(self.loss_fn(scaled, self._scaled(target)))
        pred = scaled * self.std + self.mean
        self._reset()
        return {"loss": loss, **self._scores(pred, target)}, {}

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised inputs -> predictions in the targets' own units."""
        return self._forward(x) * self.std + self.mean

    def _width(self) -> int:
        return 1

    def check_outputs(self, out: torch.Tensor, x: torch.Tensor, ending: str | None = None) -> None:
        """A user's module must give `_width()` values per example."""
        from gradkit.errors import ConfigError

        want = self._width()
        if out.dim() == 0 or out.shape[0] != len(x) or out[0].numel() != want:
            raise ConfigError(f"your module returns {tuple(out.shape)} for a batch of {len(x)}; "
                              f"{self.name} needs {want} value{'s' * (want > 1)} per example: end "
                              f"it in nn.Linear(..., {want})")

    def write_artifacts(self, end: Any) -> dict[str, float]:
        """Every test example's target and prediction (and a series' time labels)."""
        from gradkit.artifacts.samples import write_values

        write_values(self, end)
        return {}


@register("regression")
class RegressionTask(ValueTask):
    """One value per example (B,): MSE, RMSE, MAE and R² in the target's units."""

    default = True

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).float().squeeze(-1)  # (B,), standardised

    def _scores(self, pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
        return regression_metrics(pred, target)

    def baselines(self, data: Any, seed: int) -> dict[str, float]:
        """The training mean, and a linear regression on the inputs."""
        from gradkit.metrics.baselines import value_baselines

        return value_baselines(data, seed)
