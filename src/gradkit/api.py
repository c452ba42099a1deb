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

import numpy as np
import torch

from gradkit import config as C

from gradkit.engine import execute, resolve_runs, validate
from gradkit.engine import load as load, resolve as resolve  # noqa: F401
from gradkit.engine.run import RLRun, Run
from gradkit.errors import ConfigError
from gradkit.training.distributed import placement


def train(recipe: str | None = None, *, config_file: str | Path | None = None,
          overrides: list[str] | None = None, out: str | Path | None = None,
          verbose: bool = True, nproc: int = 1, seeds: int | list[int] | None = None,
          **sections: Any) -> Run | RLRun | dict[Any, Any]:
    """Train a named recipe (or a config file), with overrides, and return the finished run.

    A recipe with `variants:` trains each variant and returns {variant name: Run}, in the
    recipe's order; `out` is then their parent directory (see `gradkit.variants`). `seeds`
    (or the recipe's `seeds:`): N seeds from the recipe's (or a list), every variant once per
    seed, returning {seed: Run} ({variant: {seed: Run}} with variants) and a summary with
    mean, sd and 95% confidence intervals, and verdicts between variants. A recipe
    with `federated:` runs on Flower (gradkit.federated); one with `rl:` returns an `RLRun`.
    `nproc` > 1 trains on that many local processes with DDP (gradkit.distributed).

    >>> run = gk.train("fashion-mlp", train={"epochs": 5}, optim={"lr": 3e-4})
    >>> run = gk.train("fashion-mlp", overrides=["model.dropout=0.2"])
    >>> runs = gk.train("adding-rnn-vs-lstm", data={"length": 50}); runs["lstm"].metrics
    >>> run = gk.train("fashion-mlp", nproc=2)
    """
    extra = C.deep_merge(C.parse_overrides(list(overrides or [])), sections)
    if seeds is not None:
        extra = C.deep_merge(extra, {"seeds": seeds})
    if out is not None:
        extra = C.deep_merge(extra, {"output": {"run_dir": str(out)}})
    cfg, variants = resolve_runs(recipe, config_file, extra)
    if nproc != 1:
        from gradkit.distributed import launch

        return launch.train(cfg, nproc, verbose)
    if variants or cfg.seeds is not None:
        if placement() is not None:
            raise ConfigError(f"recipe '{cfg.name}' trains several runs (variants or seeds); a "
                              "distributed launch trains one: pick one's settings as overrides")
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


def fit(model: torch.nn.Module | tuple, x: Any, y: Any = None, *, validation_data: Any = None,
        validation_split: float = 0.1, test_data: Any = None, task: str | None = None,
        target: str | None = None, kind: str | None = None, columns: tuple[str, str] | None = None,
        epochs: int = 10, optim: str | dict = "adam",
        lr: float = 1e-3, batch_size: int = 64, out: str | Path | None = None,
        verbose: bool = True, **config: Any) -> Run:
    """Train your own `nn.Module` on your data, with the same loop, run directory and report.

    `x, y`: numpy arrays or torch tensors (images (N, H, W), (N, C, H, W) or (N, H, W, C) in any
    dtype and range, rows (N, F)), a list of texts and their labels, a 1-D series (no y: a
    forecast), a pandas DataFrame with `target="column"`, or a gradkit `Dataset`. Labels that
    are integers, strings or a Categorical are classes; floats are values (regression), unless
    `task` says otherwise. `validation_data`, `test_data`: pairs (x, y) or DataFrames; without
    `validation_data`, `validation_split` of the examples is held out. `kind="text"` reads x as
    token ids. `optim`: a name, or the whole optim section ({"name": "adam", "betas": [0.5, 0.999]}).
    A torch `Dataset` or `DataLoader` (x alone: its items hold the labels; a loader is
    used as given, with `validation_data` required; dict items name their keys with
    `columns=("image", "label")`). Further keys go to the config as for gk.train (`data={"max_length": 32}`,
    `train={"patience": 3}`, `seed=1`...).

    >>> run = gk.fit(MyNet(), x_train, y_train, epochs=5, test_data=(x_test, y_test))
    >>> run = gk.fit(nn.Sequential(nn.LazyLinear(64), nn.ReLU(), nn.LazyLinear(3)), df, target="species")
    >>> run.predict(x_new); run.evaluate(x_test, y_test); gk.load(run.dir)
    """
    from gradkit.config import DataConfig
    from gradkit.data import DATASETS, as_dataset
    from gradkit.models.adapters import Pair
    from gradkit.models.custom import class_path
    from gradkit.tasks import TASKS, default_for

    if isinstance(model, (tuple, list)):  # gk.fit((G, D), x, task="gan")
        model = Pair(*model)
    task_cls = TASKS.get(task, key="task") if task else None
    targets = task_cls.targets if task_cls else None
    if y is None and task_cls is not None and not getattr(task_cls, "needs_labels", True) \
            and hasattr(x, "shape") and not hasattr(x, "columns"):
        y = np.zeros(len(x), dtype=np.int64)  # unlabelled images: one class, for the report
    options = DataConfig(**{"name": "arrays", "val_fraction": validation_split,
                            **(config.get("data") or {})})
    data = as_dataset(x, y, target=target, columns=columns, targets=targets, kind=kind,
                      validation_data=validation_data, validation_split=validation_split,
                      test_data=test_data, seed=int(config.get("seed", 0)), options=options)
    task = task or default_for(data.targets or ("classes" if data.spec.num_classes is not None
                                                else "values"))
    raw = {"name": config.pop("name", type(model).__name__.lower()), "task": task,
           "data": {"name": data.name if data.name in DATASETS else "arrays"},
           "model": {"name": "custom", "module": class_path(model)},
           "optim": {"lr": lr, **optim} if isinstance(optim, dict) else {"name": optim, "lr": lr},
           "train": {"epochs": epochs, "batch_size": batch_size,
                     "monitor": getattr(TASKS.get(task, key="task"), "monitor", "val/loss")}}
    raw = C.deep_merge(raw, config)
    if out is not None:
        raw = C.deep_merge(raw, {"output": {"run_dir": str(out)}})
    cfg = validate(raw, "gk.fit arguments")
    return execute(cfg, model=model, data=data, verbose=verbose)


def evaluate(run: Any, split: str = "test", checkpoint_name: str = "best",
             data_dir: str | None = None, *, x: Any = None, y: Any = None) -> dict[str, float]:
    """A saved run's metrics: on its own `split` (test or val), rebuilt from its config, or on
    new examples `x, y` (any form `Run.predict` takes). `run`: a run directory or a `Run`.

    >>> gk.evaluate("runs/digits-mlp/<run>")["test/accuracy"]
    >>> gk.evaluate(run, x=x_test, y=y_test)["accuracy"]
    """
    from gradkit.engine import evaluate as evaluate_split, load

    if x is not None:
        loaded = run if isinstance(run, Run) else load(run, checkpoint_name)
        return loaded.evaluate(x, y)
    return evaluate_split(run.dir if isinstance(run, Run) else run, split, checkpoint_name, data_dir)
