"""Hyperparameter search on Optuna: each trial is an ordinary gradkit run of the recipe with the
trial's values as overrides; a pruner stops unpromising trials from their validation curves.

    <output.dir>/<name>/tune-<stamp>/   (or --out DIR)
      study.db       Optuna's SQLite storage: run the same command with --out DIR to resume
      tune.json      recipe, overrides, space, metric and direction (a resumed study must match)
      trials/0007/   each trial's run directory (config, metrics, checkpoints, report)
      trials.json    every trial: state, value, values tried, epochs, run directory, error
      best.yaml      the best trial as a recipe file: gradkit train -c best.yaml
      report.html    optimisation history, learning curves, importances, parallel coordinates

A trial's score is `metric` in its metrics.json: measured on the validation split with the
checkpoint `train.monitor` kept, i.e. what `gradkit train -c best.yaml` will deliver.
"""
from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from gradkit.errors import ConfigError, GradkitError, did_you_mean
from gradkit.tune import space as S
from gradkit.tune.settings import (PRUNERS, STUDY, Settings, TuneResult, check_aggregate,  # noqa: F401
                                   open_study, parse_seeds, storage)



def tune(recipe: str | None = None, *, space: list[str], trials: int = 30,
         config_file: str | Path | None = None, overrides: list[str] | None = None,
         metric: str | None = None, direction: str | None = None, jobs: int = 1,
         pruner: str = "median", startup_trials: int = 5, out: str | Path | None = None,
         enqueue: list[dict[str, Any]] = (), seeds: int | str | list[int] | None = None,
         aggregate: str = "mean", verbose: bool = True) -> TuneResult:
    """Search `space` for the best `metric` over `trials` trials (in all, resumed ones included).

    >>> r = tune("digits-mlp", space=["optim.lr=loguniform:1e-4:1e-1"], trials=20)
    >>> r.best_values, r.best_yaml          # {'optim.lr': 0.0041}, .../best.yaml
    >>> tune("digits-mlp", space=[...], trials=30, out=r.dir)   # 10 more, the first 20 kept

    `enqueue`: values to try first in a new study, e.g. [{"optim.lr": 1e-3}] (the recipe's own).
    `seeds` (N, "0-9", [0, 3, 7]): each trial trains once per seed and scores `aggregate` (mean,
    median, min, max, pNN) of their values, so a setting is chosen on its worst seeds too:

    >>> tune("cartpole-dqn", space=["rl.lr=loguniform:1e-4:3e-3"], seeds="0-9", aggregate="p90",
    ...      metric="eval/seconds_to_solve")   # an unsolved seed counts at its whole budget
    """
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise GradkitError("gradkit tune runs on Optuna, which is not installed: "
                           "pip install 'gradkit[tune]'") from None
    settings, dims = prepare(recipe, config_file, overrides, space, metric, direction, pruner,
                             startup_trials, seeds, aggregate)
    if trials < 1 or jobs < 1:
        raise ConfigError("--trials and --jobs must be 1 or more")
    study_dir = Path(out) if out else _new_dir(settings)
    with _locked(study_dir):
        _save_settings(study_dir, settings)
        study = open_study(study_dir, settings)
        _recover(study_dir, study, verbose)
        if not study.trials:
            for values in enqueue:
                study.enqueue_trial(values)
        remaining = trials - _done(study)
        if verbose:
            print(f"gradkit: tuning {settings.recipe or settings.config_file} for {settings.direction} "
                  f"{settings.score_name()}: {max(remaining, 0)} trial(s) to run, {_done(study)} done; "
                  f"study directory {study_dir}", flush=True)
        if remaining > 0:
            _run_trials(study_dir, settings, remaining, len(study.trials), jobs, verbose)
        from gradkit.tune.outputs import write_outputs

        return write_outputs(study_dir, settings, dims, verbose)


def prepare(recipe, config_file, overrides, space, metric, direction, pruner, startup_trials,
            seeds=None, aggregate="mean") -> tuple[Settings, list[S.Dimension]]:
    """Validate everything before the first trial: recipe, overrides, space, metric, pruner."""
    if not recipe and not config_file:
        raise ConfigError("name a recipe (`gradkit recipes` lists them) or pass -c FILE.yaml")
    overrides = list(overrides or [])
    if any(o.split("=")[0].strip() == "output.run_dir" for o in overrides):
        raise ConfigError("output.run_dir: the study directory is --out, and each trial's run "
                          "directory sits inside it (trials/NNNN)")
    from gradkit.engine import resolve_runs

    base_cfg, variants = resolve_runs(recipe, config_file, overrides)
    if base_cfg.seeds is not None:
        raise ConfigError(f"{base_cfg.name} sets seeds: a study names its trials' seeds with "
                          "--seeds (e.g. --seeds 0-4 --aggregate mean); drop seeds from the recipe")
    if variants:
        raise ConfigError(f"{base_cfg.name} trains {len(variants)} variants; tune one of them: "
                          f"write its config to a file (e.g. `base: {recipe}` with that "
                          "variant's keys) and pass -c FILE")
    dims = S.parse(list(space))
    settings = Settings(recipe, str(config_file) if config_file else None, overrides,
                        [str(d) for d in dims], "", "", pruner, startup_trials, base_cfg.seed,
                        base_cfg.train.epochs // 10, parse_seeds(seeds, base_cfg.seed), aggregate)
    check_aggregate(aggregate)
    if settings.seeds and any(d.key == "seed" for d in dims):
        raise ConfigError("--space seed=... and --seeds: the seeds are not a hyperparameter; "
                          "keep --seeds")
    S.check(dims, base_cfg, settings.resolve)
    settings.metric = metric or ("eval/mean_return" if base_cfg.rl else base_cfg.train.monitor)
    settings.direction = direction or _direction(settings.metric)
    _check_choices(settings, bool(base_cfg.rl))
    return settings, dims


def _direction(metric: str) -> str:
    from gradkit.training.loop import lower_is_better

    lower = lower_is_better(metric) or metric.endswith(("seconds", "_to_solve"))
    return "minimize" if lower else "maximize"


def _check_choices(s: Settings, rl: bool) -> None:
    if s.direction not in ("minimize", "maximize"):
        raise ConfigError(f"--direction '{s.direction}'{did_you_mean(s.direction, ['minimize', 'maximize'])}"
                          "; choose minimize or maximize")
    if s.pruner not in PRUNERS:
        raise ConfigError(f"--pruner '{s.pruner}'{did_you_mean(s.pruner, PRUNERS)}; choose one of "
                          + ", ".join(PRUNERS))
    prefix = "eval/" if rl else "val/"
    if not s.metric.startswith(prefix):
        why = ("an RL run's evaluation metrics are eval/..." if rl else
               "a validation metric (val/...); test metrics would choose on the test split")
        raise ConfigError(f"--metric {s.metric}: tune on {why}, e.g. "
                          f"--metric {prefix}{'mean_return' if rl else 'accuracy'}")


def _new_dir(s: Settings) -> Path:
    from gradkit.rundir import stamp, unique_dir

    cfg = s.resolve({})
    return unique_dir(Path(cfg.output.dir) / cfg.name, f"tune-{stamp()}")


@contextmanager
def _locked(study_dir: Path):
    """One `gradkit tune` per study directory at a time (its workers share the lock)."""
    study_dir.mkdir(parents=True, exist_ok=True)
    with open(study_dir / ".lock", "w") as fh:
        try:
            import fcntl

            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # not POSIX: no lock
            pass
        except OSError:
            raise GradkitError(f"another `gradkit tune` is running the study in {study_dir}; "
                               "wait for it, or use another --out") from None
        yield


def _save_settings(study_dir: Path, s: Settings) -> None:
    """A new study records its settings; a resumed one must match them (trials may differ)."""
    path = study_dir / "tune.json"
    new = asdict(s)
    if path.is_file():
        old = json.loads(path.read_text())
        fixed = {"recipe": None, "config_file": None, "overrides": None, "space": None,
                 "metric": None, "direction": None, "seeds": None, "aggregate": "mean"}
        diff = [k for k, default in fixed.items() if old.get(k, default) != new[k]]
        if diff:
            raise ConfigError(f"{study_dir} holds a study with other settings ("
                              + "; ".join(f"{k}: {old.get(k)!r}, now {new[k]!r}" for k in diff)
                              + "); resume it with the same ones, or choose another --out")
    from gradkit.rundir import atomic_write

    atomic_write(path, json.dumps(new, indent=2) + "\n")


def _recover(study_dir: Path, study, verbose: bool) -> None:
    """Trials an interruption cut short run again first, with the same values.

    Ctrl-C leaves its trial failed and marked interrupted (trial.py); a killed process leaves
    it running, which the lock proves it is not: it is marked so here.
    """
    from optuna.trial import TrialState

    store = storage(study_dir)
    study_id = store.get_study_id_from_name(STUDY)
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    for trial in trials:
        if trial.state == TrialState.RUNNING:
            trial_id = store.get_trial_id_from_study_id_trial_number(study_id, trial.number)
            store.set_trial_user_attr(trial_id, "interrupted", True)
            store.set_trial_state_values(trial_id, TrialState.FAIL)
        elif not (trial.state == TrialState.FAIL and trial.user_attrs.get("interrupted")):
            continue
        if trial.number not in retried:
            study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
            if verbose:
                print(f"gradkit: trial {trial.number} was interrupted; it runs again first",
                      flush=True)


def _done(study) -> int:
    """Finished trials: complete, pruned and failed ones, not those cut by an interruption."""
    from optuna.trial import TrialState

    return sum(1 for t in study.get_trials(deepcopy=False)
               if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
               and not t.user_attrs.get("interrupted"))


def _run_trials(study_dir: Path, s: Settings, n: int, started: int, jobs: int, verbose: bool) -> None:
    """`n` trials: here, or split over `jobs` processes sharing the study's storage.

    Processes, not threads: each trial seeds the global random generators and sets torch's
    thread count, which threads would share. Each worker's sampler gets its own seed (the
    count of trials so far shifts it, so a resumed study does not replay its first draws).
    """
    seed = s.seed + started
    if jobs == 1:
        run_worker(str(study_dir), asdict(s), n, seed, None, verbose)
        return
    import multiprocessing

    shares = [n // jobs + (i < n % jobs) for i in range(jobs)]
    threads = max(1, (os.cpu_count() or 1) // jobs)
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        futures = [pool.submit(run_worker, str(study_dir), asdict(s), k, seed + 1000 * i, threads,
                               verbose) for i, k in enumerate(shares) if k]
        for future in futures:
            future.result()


def run_worker(study_dir: str, settings: dict[str, Any], n: int, seed: int, threads: int | None,
               verbose: bool) -> None:
    """Run `n` trials of the study (in this process or a worker process)."""
    s = Settings(**settings)
    if threads:
        import torch

        torch.set_num_threads(threads)
    from gradkit.tune.trial import objective

    study = open_study(Path(study_dir), s, seed)
    dims = S.parse(s.space)
    study.optimize(lambda trial: objective(trial, s, dims, Path(study_dir), verbose), n_trials=n)

