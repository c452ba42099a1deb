"""Experiment tracking: a run's config, metrics and files also sent to TensorBoard, MLflow or
Weights & Biases, chosen with `output.track` (any subset; default none).

    gradkit train digits-mlp 'output.track=[tensorboard,mlflow,wandb]'
    tensorboard --logdir runs                                   # event files in each run directory
    mlflow ui --backend-store-uri sqlite:///$PWD/runs/mlflow.db  # or your MLFLOW_TRACKING_URI
    wandb sync runs/digits-mlp/<run>/wandb/offline-run-*        # offline unless you are logged in

The run directory stays the record; a tracker is a second view of it. Every tracker gets the
same things under the same keys as `metrics.jsonl`: the resolved config as flat parameters
(`optim.lr`), one point per epoch (supervised, x = optimiser steps) or per evaluation (RL,
x = environment steps), `batch/<metric>` every `output.track_every` optimiser steps, the final
metrics, and `config.yaml`, `metrics.json`, `report.html` and `checkpoints/best.pt` as files.
Each backend is one module here; its library is imported only when that backend is opened.
"""
from __future__ import annotations

import importlib
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gradkit.config import UNUSED_BY_RL
from gradkit.errors import GradkitError

if TYPE_CHECKING:
    from gradkit.config import RunConfig
    from gradkit.rundir import RunDir
    from gradkit.training.loop import FitState

TRACKERS = ("tensorboard", "mlflow", "wandb")
_NOT_PARAMS = ("description", "reproduces", "reaches", "variants")
FILES = ("config.yaml", "metrics.json", "report.html", "checkpoints/best.pt")


class Backend(Protocol):
    """One tracking service. `open(cfg, run, previous)` in each backend module builds one;
    `previous` is what `where()` returned when this run started before (a resumed run)."""

    def log_params(self, params: dict[str, Any]) -> None: ...

    def log_metrics(self, metrics: dict[str, float], step: int) -> None: ...

    def log_artifact(self, path: Path, folder: str) -> None: ...

    def close(self, status: str) -> None:
        """status: completed, failed or interrupted."""

    def where(self) -> dict[str, Any]:
        """Where the data went (kept in run.json under `tracking`), for people and for resume."""


class Tracker:
    """Fan-out over the open backends: each call reaches every one; with none, calls do nothing.

    A backend that fails mid-run is reported once and dropped: a dashboard problem must not
    lose a training run (opening one, in `open_trackers`, fails loudly instead).

    >>> tracker = open_trackers(cfg, run)
    >>> with tracker:                       # an exception marks the tracked run failed
    ...     tracker.log_params(cfg)
    ...     fit(task, data, cfg, run, callbacks=tracker.callbacks(cfg.output.track_every))
    ...     tracker.finish(run, final_metrics)
    """

    def __init__(self, backends: dict[str, Backend]) -> None:
        self.backends = dict(backends)
        self.step = 0
        self.seen: set[str] = set()  # keys logged so far
        self.closed = False

    def log_params(self, cfg: RunConfig) -> None:
        if self.backends:
            self._each("log_params", params(cfg))

    def log_metrics(self, metrics: Mapping[str, Any], step: int) -> None:
        """The numeric entries of one metrics record (`step` itself is the x axis, not a metric)."""
        values = {k: float(v) for k, v in metrics.items()
                  if k != "step" and isinstance(v, (int, float)) and math.isfinite(v)}
        self.step = max(self.step, int(step))
        self.seen.update(values)
        if self.backends and values:
            self._each("log_metrics", values, int(step))

    def finish(self, run: RunDir, metrics: Mapping[str, Any]) -> None:
        """The final metrics at the last step logged, then the run's files.

        Keys already logged per epoch (the best checkpoint's `val/*`, an RL run's last
        `eval/mean_return`) are left out: their history stays one point per epoch.
        """
        self.log_metrics({k: v for k, v in metrics.items() if k not in self.seen}, self.step)
        for name in FILES:
            path = run.path / name
            if self.backends and path.is_file():
                self._each("log_artifact", path, str(Path(name).parent).strip("."))

    def callbacks(self, every_steps: int) -> list[TrackCallback]:
        """The training loop's callback feeding this tracker ([] when nothing is tracked)."""
        return [TrackCallback(self, every_steps)] if self.backends else []

    def close(self, status: str = "completed") -> None:
        if not self.closed:
            self.closed = True
            self._each("close", status)

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, kind, exc, tb) -> bool:
        self.close("completed" if kind is None else
                   "interrupted" if issubclass(kind, KeyboardInterrupt) else "failed")
        return False

    def _each(self, method: str, *args: Any) -> None:
        for name, backend in list(self.backends.items()):
            try:
                getattr(backend, method)(*args)
            except Exception as exc:  # noqa: BLE001 (any library error: drop that backend)
                del self.backends[name]
                print(f"gradkit: tracking with {name} stopped ({type(exc).__name__}: {exc}); "
                      "the run continues and its run directory is complete", flush=True)


class TrackCallback:
    """The loop's callback: each epoch's record, and `batch/*` means every `every_steps` steps."""

    def __init__(self, tracker: Tracker, every_steps: int) -> None:
        self.tracker, self.every_steps = tracker, every_steps

    def on_steps(self, step: int, metrics: dict[str, float]) -> None:
        self.tracker.log_metrics({f"batch/{k}": v for k, v in metrics.items()}, step)

    def on_epoch_end(self, state: FitState) -> None:
        self.tracker.log_metrics(state.metrics, state.step)


def open_trackers(cfg: RunConfig, run: RunDir, verbose: bool = False) -> Tracker:
    """Open the backends `cfg.output.track` names for `run` and record where they write.

    A resumed run (run.json already names its tracked runs) continues the same MLflow and
    W&B runs. A backend whose package is missing is a GradkitError naming the extra.
    """
    previous = run.read_json("run.json", {}).get("tracking") or {}
    backends: dict[str, Backend] = {}
    try:
        for name in cfg.output.track:
            backends[name] = _module(name).open(cfg, run, previous.get(name))
    except BaseException as exc:
        Tracker(backends).close("failed")
        run.update_info(status="failed", error=f"{type(exc).__name__}: {exc}")
        raise
    tracker = Tracker(backends)
    if backends:
        where = {name: b.where() for name, b in backends.items()}
        run.update_info(tracking=where)
        if verbose:
            for name, info in where.items():
                print(f"gradkit: tracking with {name}: {info.get('show', '')}", flush=True)
    return tracker


def _module(name: str):
    try:
        importlib.import_module(name)  # each tracker's package has the tracker's name
    except ImportError:
        raise GradkitError(f"output.track includes {name}, but the {name} package is not "
                           "installed: pip install 'gradkit[track]'") from None
    return importlib.import_module(f"gradkit.track.{name}")


def params(cfg: RunConfig) -> dict[str, Any]:
    """The resolved config as flat dotted keys: {'optim.lr': 0.001, 'model.hidden': [128, 64]}.

    Prose (description, reaches) and the variants table are not parameters; an RL run has
    no data, model, task, optim or train section in use.
    """
    raw = cfg.to_dict()
    skip = set(_NOT_PARAMS) | (set(UNUSED_BY_RL) if cfg.rl else set())
    flat: dict[str, Any] = {}

    def walk(prefix: str, node: Mapping[str, Any]) -> None:
        for key, value in node.items():
            if isinstance(value, Mapping) and value:
                walk(f"{prefix}{key}.", value)
            else:
                flat[f"{prefix}{key}"] = value

    walk("", {k: v for k, v in raw.items() if k not in skip})
    return flat


def scalar(value: Any) -> bool | int | float | str:
    """A parameter as a scalar, for services that take only those (lists become their YAML)."""
    if isinstance(value, (bool, int, float, str)):
        return value
    return "null" if value is None else str(value)


def run_name(run: RunDir) -> str:
    """`<recipe>/<stamp>` for a plain run, `<stamp>/<variant>` for a variant, `trials/0003`."""
    return f"{run.path.parent.name}/{run.path.name}"


def experiment_name(cfg: RunConfig) -> str:
    """The recipe's name: a variant ('adding-rnn-vs-lstm/rnn') goes with its recipe's runs."""
    return cfg.name.split("/")[0] or "gradkit"


__all__ = ["TRACKERS", "Backend", "Tracker", "TrackCallback", "open_trackers", "params"]
