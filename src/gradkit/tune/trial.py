"""One tuning trial: the recipe with the trial's values, run as an ordinary gradkit run, and the
loop callback that reports each epoch to Optuna's pruner."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from gradkit import config as C
from gradkit.errors import ConfigError, DataError, GradkitError, did_you_mean
from gradkit.tune import space as S


class Pruning:
    """Reports `metric` after each epoch; stops the run when the trial's pruner says so."""

    def __init__(self, trial, metric: str, pruner: str) -> None:
        self.trial, self.metric, self.pruner = trial, metric, pruner
        self.pruned_at: int | None = None

    def on_epoch_end(self, state) -> str | None:
        value = state.metrics.get(self.metric)
        if value is None:
            keys = [k for k in state.metrics if k.startswith("val/")]
            raise ConfigError(f"--metric {self.metric} is not a metric of this task"
                              f"{did_you_mean(self.metric, keys)}; choose one of: {', '.join(keys)}")
        self.trial.report(float(value), state.epoch)
        if not self.trial.should_prune():
            return None
        self.pruned_at = state.epoch
        return (f"pruned by the {self.pruner} pruner after epoch {state.epoch} "
                f"({self.metric} {value:.4g})")


def objective(trial, s, dims: list[S.Dimension], study_dir: Path, verbose: bool) -> float:
    """Train one trial; its score, NaN for a failed one (Optuna marks it failed), or TrialPruned."""
    import optuna

    from gradkit.engine import execute

    values = {d.key: d.suggest(trial) for d in dims}
    name = f"trials/{trial.number:04d}"
    trial.set_user_attr("run_dir", name)
    cfg = s.resolve(C.deep_merge(S.nested(values), {"output": {"run_dir": str(study_dir / name)}}))
    prune = None if cfg.rl else Pruning(trial, s.metric, s.pruner)  # RL runs have no epochs
    try:
        run = execute(cfg, callbacks=[prune] if prune else (), verbose=False)
    except (ConfigError, DataError):  # wrong for every trial: stop the study
        raise
    except KeyboardInterrupt:  # Optuna records the trial failed; a resumed study retries it
        trial.set_user_attr("interrupted", True)
        raise
    except GradkitError as exc:  # this trial's values failed (a diverging loss): try others
        trial.set_user_attr("error", str(exc).splitlines()[0])
        _say(verbose, trial, values, f"failed: {str(exc).splitlines()[0]}")
        return math.nan
    metrics = {k: float(v) for k, v in run.metrics.items()
               if isinstance(v, (int, float)) and math.isfinite(v)}
    trial.set_user_attr("metrics", metrics)
    if prune is not None and prune.pruned_at is not None:
        _say(verbose, trial, values, f"pruned after epoch {prune.pruned_at}")
        raise optuna.TrialPruned(f"pruned after epoch {prune.pruned_at}")
    if s.metric not in metrics:
        found = [k for k in metrics if k.startswith(s.metric.split("/")[0] + "/")]
        raise ConfigError(f"--metric {s.metric} is not among the run's final metrics"
                          f"{did_you_mean(s.metric, found)}; it has: {', '.join(found) or 'none'}")
    value = metrics[s.metric]
    _say(verbose, trial, values, f"{s.metric} {value:.4g}{_best(trial, value, s.direction)}")
    return value


def _best(trial, value: float, direction: str) -> str:
    try:
        best = trial.study.best_trial
    except ValueError:  # no finished trial yet
        return ""
    better = value < best.value if direction == "minimize" else value > best.value
    return "  (best so far)" if better else f"  (best {best.value:.4g}, trial {best.number})"


def _say(verbose: bool, trial, values: dict[str, Any], outcome: str) -> None:
    if verbose:
        shown = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in values.items())
        print(f"gradkit: trial {trial.number}: {shown} -> {outcome}", flush=True)
