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
    """Train one trial; its score, NaN for a failed one (Optuna marks it failed), or TrialPruned.

    With `s.seeds` the trial trains once per seed (trials/NNNN/seed-S) and scores
    `s.aggregate` of their values; no pruning then (a seed's curve says little of the others').
    """
    import optuna

    values = {d.key: d.suggest(trial) for d in dims}
    name = f"trials/{trial.number:04d}"
    trial.set_user_attr("run_dir", name)
    extra = S.nested(values)
    if s.seeds:
        return _over_seeds(trial, s, values, extra, study_dir / name, verbose)
    cfg = s.resolve(C.deep_merge(extra, {"output": {"run_dir": str(study_dir / name)}}))
    prune = None if cfg.rl else Pruning(trial, s.metric, s.pruner)  # RL runs have no epochs
    run = _train(trial, values, cfg, [prune] if prune else [], verbose)
    if run is None:
        return math.nan
    metrics = _finite(run.metrics)
    trial.set_user_attr("metrics", metrics)
    if prune is not None and prune.pruned_at is not None:
        _say(verbose, trial, values, f"pruned after epoch {prune.pruned_at}")
        raise optuna.TrialPruned(f"pruned after epoch {prune.pruned_at}")
    value, _ = _value(s.metric, run.metrics, metrics)
    _say(verbose, trial, values, f"{s.metric} {value:.4g}{_best(trial, value, s.direction)}")
    return value


def _over_seeds(trial, s, values: dict[str, Any], extra: dict[str, Any], trial_dir: Path,
                verbose: bool) -> float:
    """The trial's values trained on each of `s.seeds`; `s.aggregate` of the seeds' values."""
    from gradkit.tune.settings import aggregate

    scores: dict[str, float] = {}
    unsolved: list[int] = []
    for seed in s.seeds:
        cfg = s.resolve(C.deep_merge(extra, {"seed": seed,
                                             "output": {"run_dir": str(trial_dir / f"seed-{seed}")}}))
        run = _train(trial, values, cfg, [], verbose, f"seed {seed} ")
        if run is None:
            return math.nan
        value, capped = _value(s.metric, run.metrics, _finite(run.metrics))
        scores[str(seed)] = value
        if capped:
            unsolved.append(seed)
    score = aggregate(list(scores.values()), s.aggregate)
    trial.set_user_attr("seed_values", scores)
    trial.set_user_attr("unsolved_seeds", unsolved)
    spread = f"seeds {min(scores.values()):.4g} to {max(scores.values()):.4g}"
    if unsolved:
        spread += f"; {len(unsolved)} never solved, counted at their budget"
    _say(verbose, trial, values, f"{s.aggregate} {s.metric} {score:.4g} ({spread})"
                                 f"{_best(trial, score, s.direction)}")
    return score


def _train(trial, values: dict[str, Any], cfg: C.RunConfig, callbacks: list, verbose: bool,
           what: str = ""):
    """One run of the trial; None when its values failed (a diverging loss): try others."""
    from gradkit.engine import execute

    try:
        return execute(cfg, callbacks=callbacks, verbose=False)
    except (ConfigError, DataError):  # wrong for every trial: stop the study
        raise
    except KeyboardInterrupt:  # Optuna records the trial failed; a resumed study retries it
        trial.set_user_attr("interrupted", True)
        raise
    except GradkitError as exc:
        trial.set_user_attr("error", what + str(exc).splitlines()[0])
        _say(verbose, trial, values, f"failed: {what}{str(exc).splitlines()[0]}")
        return None


def _finite(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items()
            if isinstance(v, (int, float)) and math.isfinite(v)}  # eval/solved: 1.0 or 0.0


# an RL run that never solved has no steps or seconds to solve: it counts at its whole budget
# (the env steps or seconds it ran), a lower bound on its true value, above every solved seed's
BUDGET = {"eval/steps_to_solve": "train/steps", "eval/seconds_to_solve": "train/seconds"}


def _value(metric: str, raw: dict[str, Any], metrics: dict[str, float]) -> tuple[float, bool]:
    """`metric` of a finished run, and whether it is a budget standing in for 'never solved'."""
    if metric in metrics:
        return metrics[metric], False
    if metric in BUDGET and metric in raw and BUDGET[metric] in metrics:
        return metrics[BUDGET[metric]], True
    found = [k for k in metrics if k.startswith(metric.split("/")[0] + "/")]
    raise ConfigError(f"--metric {metric} is not among the run's final metrics"
                      f"{did_you_mean(metric, found)}; it has: {', '.join(found) or 'none'}")


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
