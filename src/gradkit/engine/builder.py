"""What a supervised run is made of, built once the same way for every caller (a run, a
federated simulation, the learning-rate range test, a reloaded run's data): torch's threads,
the device (and this rank's place in a distributed run), the seeds, the data set the task needs,
the model, the task.

    >>> built = build(resolve("digits-mlp"))
    >>> built.task.train_step(next(iter(batches)), step)      # the loop's `fit` takes it from here
"""
from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
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
    user_model: torch.nn.Module | None = None  # that module, before its task's adapter wrapped it


def task_class(cfg: RunConfig) -> type:
    from gradkit.tasks import TASKS

    return TASKS.get(cfg.task.name, key="task.name")


def build_data(cfg: RunConfig, data: Any = None) -> Any:
    """The data set `cfg.data` names, built for `cfg.task` (its targets) and prepared by it;
    `data`, a data set already built (the caller's, `gk.fit`), is prepared as it is."""
    import gradkit.data
    import gradkit.tasks

    task = task_class(cfg)
    if data is not None and data.targets and data.targets != task.targets:
        raise ConfigError(f"your data is labelled with {data.targets}, but task.name={cfg.task.name} "
                          f"trains on {task.targets}; drop task= or pass matching labels")
    if data is None:
        entry = gradkit.data.DATASETS.get(cfg.data.name, key="data.name")
        if entry.targets not in ("any", task.targets):
            fits = [n for n in gradkit.tasks.TASKS.names()
                    if gradkit.tasks.TASKS.get(n).targets == entry.targets]
            raise ConfigError(f"data set '{cfg.data.name}' is for {', '.join(fits)}, but task.name="
                              f"{cfg.task.name}; set task.name={fits[0]}")
        data = _shared_build(cfg, task.targets)
    gradkit.tasks.prepare(task, data)
    return data


_SHARED: dict[str, Any] | None = None  # data sets built inside `sharing_data`, by what built them


@contextmanager
def sharing_data() -> Iterator[None]:
    """Inside the block, runs with the same data config, targets and seed share one built data
    set: a parent's children (variants x seeds, gradkit.variants) load, decode and split it once
    per seed, not once per child. Each run gets its own spec and notes (a task adapts its spec);
    the splits' tensors, which nothing writes to, are shared. Released when the block ends."""
    global _SHARED
    outer = _SHARED
    _SHARED = {} if outer is None else outer
    try:
        yield
    finally:
        _SHARED = outer


def _shared_build(cfg: RunConfig, targets: str) -> Any:
    import gradkit.data

    if _SHARED is None:
        return gradkit.data.build(cfg.data, targets, cfg.seed)
    key = json.dumps([cfg.data.model_dump(mode="json"), targets, cfg.seed], sort_keys=True, default=str)
    if key not in _SHARED:
        data = gradkit.data.build(cfg.data, targets, cfg.seed)
        if not all(isinstance(s, gradkit.data.base.Split) for s in (data.train, data.val, data.test)):
            return data  # streamed from disk: nothing decoded to share
        _SHARED[key] = _own(data)
    return _own(_SHARED[key])


def _own(data: Any) -> Any:
    """A copy of a shared data set that a run may adapt: its own spec and notes."""
    return dataclasses.replace(data, spec=copy.deepcopy(data.spec), notes=list(data.notes))


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
    if dist.world > 1 and data is not None and hasattr(data.train, "loader"):
        raise ConfigError("a DataLoader given to gk.fit trains in one process; for DDP pass its "
                          "data as arrays or a torch Dataset")
    if dist.world > 1:  # a rank's own GPU (LOCAL_RANK's); one process keeps the device selected
        device = dist.device
    seed_everything(cfg.seed, cfg.train.deterministic)
    data = build_data(cfg, data)
    custom = model is not None
    # seeded again: the initial weights depend on the seed alone, however the data was built
    seed_everything(cfg.seed, cfg.train.deterministic)
    model = model if custom else gradkit.models.build(cfg.model, data.spec)
    model.to(device)
    user_model = model if custom else None
    if custom and getattr(task_class(cfg), "adapter", None) is not None:
        model = adapt(task_class(cfg).adapter, model, data, device)
    if cfg.train.channels_last:
        model.to(memory_format=torch.channels_last)
    if dist.world > 1:  # same initial weights everywhere, then each rank its own dropout masks
        torch.manual_seed(cfg.seed + dist.rank)
    task = gradkit.tasks.build(cfg.task, model, data.spec)
    if custom and model is user_model:  # an adapter (above) has run its own probe already
        dry_run(model, task, data, device)
    return Built(device, dist, data, model, task, custom, user_model)


PROBABILITIES = (torch.nn.Softmax, torch.nn.Sigmoid)


def adapt(adapter: Any, model: torch.nn.Module, data: Any, device: torch.device) -> torch.nn.Module:
    """A user's module wrapped to the interface its task uses, read off two examples
    (gradkit.models.adapters); a module that does not fit says what it should return."""
    import numpy as np

    from gradkit.data import normalize

    probe = normalize(data.train.take(np.arange(min(2, len(data.train)))).x.to(device), data.spec)
    was = model.training
    model.eval()
    try:
        return adapter.around(model, probe).train(was)
    except ConfigError:
        raise
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        raise ConfigError(f"your module rejects this data: a batch of shape {tuple(probe.shape)} "
                          f"raised {type(exc).__name__}: {first}") from None


def dry_run(model: torch.nn.Module, task: Any, data: Any, device: torch.device) -> None:
    """Two training examples through the caller's module before anything trains: a module that
    rejects the data's shape fails here with both shapes named, lazy layers (nn.LazyLinear) size
    themselves before the optimiser is built, and the task checks what comes out
    (`check_outputs`: the shape it needs, no softmax where it takes logits)."""
    import numpy as np

    from gradkit.data import normalize

    part = data.train.take(np.arange(min(2, len(data.train))))
    x = normalize(part.x.to(device), data.spec)
    ends: list[tuple[torch.nn.Module, Any]] = []  # probability layers' outputs: the module's last?
    hooks = [m.register_forward_hook(lambda mod, _i, out: ends.append((mod, out)))
             for m in model.modules() if isinstance(m, PROBABILITIES)]
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        raise ConfigError(f"your module rejects this data: model(x) for a batch x of shape "
                          f"{tuple(x.shape)} ({KIND_WORDS.get(data.spec.kind, data.spec.kind)}) "
                          f"raised {type(exc).__name__}: {first}") from None
    finally:
        model.train(was)
        for hook in hooks:
            hook.remove()
    check = getattr(task, "check_outputs", None)
    if check is not None:
        from gradkit.models.adapters import same_storage

        check(out, x, ending=next((type(m).__name__ for m, o in ends if same_storage(o, out)), None))


KIND_WORDS = {"image": "normalised images (N, C, H, W)", "tabular": "standardised rows (N, F)",
              "text": "token ids (N, L), 0 padding", "series": "standardised windows (N, L, F)"}
