"""The Python API: `train`, `resume`, `fit`, `load`, `evaluate`, `resolve`. The CLI only calls
these; the work is the engine's (gradkit.engine) and the capabilities' (variants, federated,
distributed).

    import gradkit as gk
    run = gk.train("fashion-mlp", train={"epochs": 5})
    run.metrics["test/accuracy"]; run.predict(x); gk.load(run.dir)
    gk.fit(my_module, gk.data.load("fashion-mnist"), epochs=5, optim="adam", lr=1e-3)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from gradkit import config as C
from gradkit.data import Dataset
from gradkit.engine import execute, resolve_runs, validate
from gradkit.engine import load as load, evaluate as evaluate, resolve as resolve  # noqa: F401
from gradkit.engine.run import RLRun, Run
from gradkit.errors import ConfigError
from gradkit.training.distributed import placement


def train(recipe: str | None = None, *, config_file: str | Path | None = None,
          overrides: list[str] | None = None, out: str | Path | None = None,
          verbose: bool = True, nproc: int = 1, **sections: Any) -> Run | RLRun | dict[str, Any]:
    """Train a named recipe (or a config file), with overrides, and return the finished run.

    A recipe with `variants:` trains each variant and returns {variant name: Run}, in the
    recipe's order; `out` is then their parent directory (see `gradkit.variants`). A recipe
    with `federated:` runs on Flower (gradkit.federated); one with `rl:` returns an `RLRun`.
    `nproc` > 1 trains on that many local processes with DDP (gradkit.distributed).

    >>> run = gk.train("fashion-mlp", train={"epochs": 5}, optim={"lr": 3e-4})
    >>> run = gk.train("fashion-mlp", overrides=["model.dropout=0.2"])
    >>> runs = gk.train("adding-rnn-vs-lstm", data={"length": 50}); runs["lstm"].metrics
    >>> run = gk.train("fashion-mlp", nproc=2)
    """
    extra = C.deep_merge(C.parse_overrides(list(overrides or [])), sections)
    if out is not None:
        extra = C.deep_merge(extra, {"output": {"run_dir": str(out)}})
    cfg, variants = resolve_runs(recipe, config_file, extra)
    if nproc != 1:
        from gradkit.distributed import launch

        return launch.train(cfg, nproc, verbose)
    if variants:
        if placement() is not None:
            raise ConfigError(f"recipe '{cfg.name}' trains {len(variants)} variants; a distributed "
                              "launch trains one run: pick a variant's settings as overrides")
        from gradkit.variants import train_variants

        return train_variants(cfg, variants, run=_run, verbose=verbose)
    return _run(cfg, verbose=verbose)


def _run(cfg: C.RunConfig, verbose: bool = True) -> Run | RLRun:
    """One resolved config: a federated one on Flower, any other by the engine."""
    if cfg.federated is not None:
        from gradkit.federated import run_federated

        return run_federated(cfg, verbose=verbose)
    return execute(cfg, verbose=verbose)


def resume(run_dir: str | Path, verbose: bool = True, nproc: int = 1) -> Run | RLRun:
    """Continue a run from `checkpoints/last.pt` with exactly its saved config.

    Temp files a killed process left are removed first. A run killed in its first epoch (no
    last.pt yet) starts again from scratch in the same directory, with the same config and seed.
    `nproc` > 1 continues it on that many local DDP processes (any N: the batch is global).
    """
    if nproc != 1:
        from gradkit.distributed import launch

        return launch.resume(run_dir, nproc, verbose)
    from gradkit.engine import resume as resume_run

    return resume_run(run_dir, verbose=verbose)


def fit(model: torch.nn.Module, data: Dataset, *, epochs: int = 10, optim: str = "adam",
        lr: float = 1e-3, batch_size: int = 64, out: str | Path | None = None,
        verbose: bool = True, **config: Any) -> Run:
    """Train your own `nn.Module` on a gradkit `Dataset` with the same loop, run directory and report.

    >>> run = gk.fit(MyNet(), gk.data.load("fashion-mnist"), epochs=5, optim="adam", lr=1e-3)
    """
    from gradkit.data import DATASETS

    raw = {"name": config.pop("name", type(model).__name__.lower()), "task": data.spec.task,
           "data": {"name": data.name if data.name in DATASETS else "csv"},
           "model": {"name": "mlp"},  # recorded only; the module you pass is what trains
           "optim": {"name": optim, "lr": lr}, "train": {"epochs": epochs, "batch_size": batch_size}}
    raw = C.deep_merge(raw, config)
    if out is not None:
        raw = C.deep_merge(raw, {"output": {"run_dir": str(out)}})
    cfg = validate(raw, "gk.fit arguments")
    return execute(cfg, model=model, data=data, verbose=verbose)
