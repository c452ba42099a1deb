"""Tasks own what one step computes and what a finished run of them leaves; the loop
(`gradkit.training.fit`) owns everything else, and the engine asks the task, never its name.

A task class is registered beside its code with `@register("name")` and declares:

    targets    what its data sets are labelled with (gradkit.data.TARGETS): classes, values,
               series or characters; the engine builds the data set for them
    outputs    what `predict` returns: classes (probabilities per class), values, forecasts,
               next-token (probabilities per position), images (reconstructions) or verdict
               (a GAN discriminator's); commands ask this (serve, export, explain, predict)
    options    the `task:` keys beyond name and loss it reads (label_smoothing, noise, beta,
               fid...); setting one it does not read is a config error
    default    True for the task `gk.fit` picks for data with these targets and no task=
    adapter    for a user's own module (gk.fit): a class whose `around(module, probe)` gives
               it the interface the task uses (gradkit.models.adapters); None: used as it is
    needs_labels  False when the examples' labels are optional (the generative tasks)
    monitor    the `train.monitor` gk.fit uses unless told (default: val/loss)

An instance exposes `models` (name -> module) and implements `train_step(batch, step)`
(calling `step(loss, "model")` to back-propagate and update), `eval_step(batch)`,
`eval_end()` and `predict(x)`. Optional, each with a default when absent:

    prepare(data)                 classmethod: adapt the built data set (a generative task
                                  maps pixels to [0, 1]); default: nothing
    configure_optimizers(optim)   {name: optimizer} (a GAN: "discriminator" and "generator",
                                  each stepped by `step(loss, name)`); default: one per model
    on_epoch_end(epoch, run)      after each epoch's evaluation, before its checkpoint (`run`
                                  may be None), e.g. to save a sample grid
    baselines(data, seed)         `baseline/<name>/<metric>` figures for the report; default {}
    write_artifacts(end)          what a finished run leaves for its report (samples,
                                  reconstructions, explanations...; `gradkit.artifacts.Ending`)
                                  and extra final metrics it returns; default: nothing
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Protocol

import torch
from torch import nn

from gradkit.registry import Registry

StepFn = Callable[[torch.Tensor, str], None]
OUTPUTS = ("classes", "values", "forecasts", "next-token", "images", "verdict")


class Task(Protocol):
    name: ClassVar[str]
    targets: ClassVar[str]
    outputs: ClassVar[str]
    models: dict[str, nn.Module]

    def train_step(self, batch: tuple[torch.Tensor, ...], step: StepFn) -> dict[str, torch.Tensor]:
        """One optimisation step; returns detached per-batch metrics (`loss`, ...)."""

    def eval_step(self, batch: tuple[torch.Tensor, ...]) -> None:
        """Accumulate evaluation state for one batch."""

    def eval_end(self) -> tuple[dict[str, float], dict[str, Any]]:
        """Scalar metrics and details (e.g. a confusion matrix) of the batches seen; resets."""

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised inputs -> what `outputs` says."""


TASKS: Registry[type[Task]] = Registry("task")


def register(name: str) -> Callable[[type], type]:
    """Class decorator: `@register("classification")` names the task and registers it."""

    def decorator(cls: type) -> type:
        if getattr(cls, "outputs", None) not in OUTPUTS:
            raise ValueError(f"task {name}: outputs must be one of {OUTPUTS}")
        cls.name = name
        TASKS.register(name, cls)
        return cls

    return decorator


def default_for(targets: str) -> str:
    """The task that data labelled with `targets` trains by default (the one registered with
    `default = True` for them): classification for classes, regression for values..."""
    found = [n for n in TASKS.names() if TASKS.get(n).targets == targets
             and getattr(TASKS.get(n), "default", False)]
    if not found:
        from gradkit.errors import ConfigError

        raise ConfigError(f"no task trains on {targets!r} by default; name one: task=...")
    return found[0]


def prepare(task: type[Task], data: Any) -> None:
    """Make a freshly built data set the task's: its spec names the task, and the task adapts
    it (`prepare`) when it needs to."""
    data.spec.task = task.name
    adapt = getattr(task, "prepare", None)
    if adapt is not None:
        adapt(data)


def build(cfg: Any, model: nn.Module, spec: Any) -> Task:
    """Build the task a `TaskConfig` names around `model`."""
    return TASKS.get(cfg.name, key="task.name")(model, spec, cfg)


# Importing the tasks registers them.
from gradkit.tasks import (classification, forecast, gan, language_model,  # noqa: E402,F401
                           reconstruct, regression, vae)

__all__ = ["OUTPUTS", "TASKS", "StepFn", "Task", "build", "default_for", "prepare", "register"]
