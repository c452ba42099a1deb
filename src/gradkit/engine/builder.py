"""What a supervised run is made of, built once the same way for every caller (a run, a
federated simulation, the learning-rate range test, a reloaded run's data): torch's threads,
the device (and this rank's place in a distributed run), the seeds, the data set the task needs,
the model, the task.

    >>> built = build(resolve("digits-mlp"))
    >>> built.task.train_step(next(iter(batches)), step)      # the loop's `fit` takes it from here
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from gradkit.config import RunConfig
from gradkit.errors import ConfigError
from gradkit.training.distributed import Dist, setup as setup_distributed
from gradkit.training.runtime import seed_everything, select_device


@dataclass
class Built:
    device: torch.device
    dist: Dist  # this rank (LOCAL outside torchrun/Slurm)
    data: Any  # gradkit.data.Dataset
    model: torch.nn.Module
    task: Any  # gradkit.tasks.Task
    custom: bool  # the model is the caller's own module (gk.fit)


def task_class(cfg: RunConfig) -> type:
    from gradkit.tasks import TASKS

    return TASKS.get(cfg.task.name, key="task.name")


def build_data(cfg: RunConfig, data: Any = None) -> Any:
    """The data set `cfg.data` names, built for `cfg.task` (its targets) and prepared by it;
    `data`, a data set already built (the caller's, `gk.fit`), is prepared as it is."""
    import gradkit.data
    import gradkit.tasks

    task = task_class(cfg)
    if data is None:
        entry = gradkit.data.DATASETS.get(cfg.data.name, key="data.name")
        if entry.targets not in ("any", task.targets):
            fits = [n for n in gradkit.tasks.TASKS.names()
                    if gradkit.tasks.TASKS.get(n).targets == entry.targets]
            raise ConfigError(f"data set '{cfg.data.name}' is for {', '.join(fits)}, but task.name="
                              f"{cfg.task.name}; set task.name={fits[0]}")
        data = gradkit.data.build(cfg.data, task.targets, cfg.seed)
    gradkit.tasks.prepare(task, data)
    return data


def build(cfg: RunConfig, model: torch.nn.Module | None = None, data: Any = None,
          distributed: bool = True) -> Built:
    """Threads, device, seeds, then data, model and task as `cfg` says. `model` and `data`: the
    caller's own (gk.fit). `distributed`: join torchrun's process group when started by it."""
    import gradkit.models
    import gradkit.tasks

    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    device = select_device(cfg.train.device)
    dist = setup_distributed(cfg.train, device) if distributed else Dist(device=device)
    if dist.world > 1:  # a rank's own GPU (LOCAL_RANK's); one process keeps the device selected
        device = dist.device
    seed_everything(cfg.seed, cfg.train.deterministic)
    data = build_data(cfg, data)
    custom = model is not None
    # seeded again: the initial weights depend on the seed alone, however the data was built
    seed_everything(cfg.seed, cfg.train.deterministic)
    model = model if custom else gradkit.models.build(cfg.model, data.spec)
    model.to(device)
    if cfg.train.channels_last:
        model.to(memory_format=torch.channels_last)
    if dist.world > 1:  # same initial weights everywhere, then each rank its own dropout masks
        torch.manual_seed(cfg.seed + dist.rank)
    task = gradkit.tasks.build(cfg.task, model, data.spec)
    return Built(device, dist, data, model, task, custom)
