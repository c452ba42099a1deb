"""Tasks own what one step computes; the loop (`gradkit.training.fit`) owns everything else.

A task exposes `models` (name -> module), declares its optimisers, and implements
`train_step(batch, step)` (calling `step(loss, "model")` to back-propagate and update),
`eval_step(batch)` and `eval_end()`. Two optional methods: `configure_optimizers(optim_cfg)
-> {name: optimizer}` (a GAN: "discriminator" and "generator", each stepped by `step(loss,
name)`), and `on_epoch_end(epoch, run)`, called after each epoch's evaluation and before its
checkpoint (`run` may be None), e.g. to save a sample grid.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import torch
from torch import nn

from gradkit.registry import Registry

StepFn = Callable[[torch.Tensor, str], None]


class Task(Protocol):
    models: dict[str, nn.Module]

    def train_step(self, batch: tuple[torch.Tensor, ...], step: StepFn) -> dict[str, torch.Tensor]:
        """One optimisation step; returns detached per-batch metrics (`loss`, ...)."""

    def eval_step(self, batch: tuple[torch.Tensor, ...]) -> None:
        """Accumulate evaluation state for one batch."""

    def eval_end(self) -> tuple[dict[str, float], dict[str, Any]]:
        """Scalar metrics and details (e.g. a confusion matrix) of the batches seen; resets."""

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised inputs -> probabilities (classification), values (regression) or
        (N, horizon) forecasts."""


TASKS: Registry[Callable[..., Task]] = Registry("task")


def build(cfg: Any, model: nn.Module, spec: Any) -> Task:
    """Build the task a `TaskConfig` names around `model`."""
    return TASKS.get(cfg.name, key="task.name")(model, spec, cfg)


from gradkit.tasks import (classification, forecast, gan, language_model,  # noqa: E402,F401
                           reconstruct, regression, vae)

__all__ = ["TASKS", "Task", "build"]
