"""What defines a study (`Settings`, saved as tune.json), what a finished one returns
(`TuneResult`), and its Optuna storage: shared by the study, its trials and its outputs."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gradkit import config as C
from gradkit.tune import space as S

STUDY = "gradkit"
PRUNERS = ("median", "halving", "none")
AGGREGATES = "mean, median, min, max or pNN (a percentile of the seeds' values, e.g. p90)"


@dataclass
class Settings:
    """What defines a study; saved as tune.json, handed to worker processes."""

    recipe: str | None
    config_file: str | None
    overrides: list[str]
    space: list[str]
    metric: str
    direction: str
    pruner: str = "median"
    startup_trials: int = 5
    seed: int = 0
    # epochs before a trial may be pruned: early curves favour high learning rates, so a slow
    # starter is not judged on its first epochs (a tenth of them)
    prune_after: int = 0
    # each trial trains once per seed and scores `aggregate` of their values (None: one run at
    # the recipe's seed); an RL run that never solves counts at its whole budget (trial.py)
    seeds: list[int] | None = None
    aggregate: str = "mean"

    def score_name(self) -> str:
        """What a trial's score is, in words: 'eval/mean_return' or 'p90 of eval/... over 10 seeds'."""
        if not self.seeds:
            return self.metric
        return f"{self.aggregate} of {self.metric} over {len(self.seeds)} seeds"

    def resolve(self, extra: dict[str, Any]) -> C.RunConfig:
        """The recipe, file and overrides, with `extra` (a trial's values) on top."""
        from gradkit.engine import resolve

        return resolve(self.recipe, self.config_file,
                       C.deep_merge(C.parse_overrides(self.overrides), extra))

    def recipe_raw(self, values: dict[str, Any]) -> dict[str, Any]:
        """best.yaml's mapping: `base:` the recipe, the file, the overrides, then `values`."""
        raw: dict[str, Any] = {"base": self.recipe} if self.recipe else {}
        if self.config_file:
            user = C.read_yaml(Path(self.config_file))
            if self.recipe:
                user.pop("base", None)  # a named recipe wins over the file's base (config.resolve)
            raw = C.deep_merge(raw, user)
        raw = C.deep_merge(raw, C.parse_overrides(self.overrides))
        return C.deep_merge(raw, S.nested(values))


@dataclass
class TuneResult:
    """A finished (or resumed and finished) study."""

    dir: Path
    metric: str
    direction: str
    counts: dict[str, int]
    best_trial: int | None = None
    best_value: float | None = None
    best_values: dict[str, Any] = field(default_factory=dict)
    best_yaml: Path | None = None
    report: Path | None = None


def aggregate(values: list[float], how: str) -> float:
    """`how` (mean, median, min, max, pNN) of the seeds' values; percentiles as numpy's default
    (linear between order statistics)."""
    import numpy as np

    if how in ("mean", "median", "min", "max"):
        return float(getattr(np, how)(values))
    return float(np.percentile(values, float(how[1:])))


def check_aggregate(how: str) -> None:
    """A clear error for anything `aggregate` cannot compute."""
    from gradkit.errors import ConfigError, did_you_mean

    if how in ("mean", "median", "min", "max"):
        return
    try:
        ok = how.startswith("p") and 0 <= float(how[1:]) <= 100
    except ValueError:
        ok = False
    if not ok:
        raise ConfigError(f"--aggregate '{how}'{did_you_mean(how, ['mean', 'median', 'min', 'max', 'p90'])}"
                          f" is not one of: {AGGREGATES}")


def parse_seeds(text: str | int | list[int] | None, base: int) -> list[int] | None:
    """--seeds: N (the seeds base..base+N-1), a list 0,3,7 or a range 0-9; None: one run."""
    from gradkit.errors import ConfigError

    if text is None or isinstance(text, list):
        seeds = text
    elif isinstance(text, int) or str(text).strip().isdigit():
        seeds = list(range(base, base + int(text)))
    else:
        try:
            seeds = []
            for part in str(text).split(","):
                lo, _, hi = part.strip().partition("-")
                seeds += list(range(int(lo), int(hi) + 1)) if hi else [int(lo)]
        except ValueError:
            raise ConfigError(f"--seeds '{text}': give a count (5), a list (0,3,7) or a range "
                              "(0-9)") from None
    if seeds is not None and (not seeds or len(set(seeds)) != len(seeds)):
        raise ConfigError(f"--seeds {text}: give one or more distinct seeds, e.g. --seeds 0-9")
    return seeds


def storage(study_dir: Path):
    import optuna

    # A long timeout: parallel workers write to the one SQLite file and wait for each other.
    return optuna.storages.RDBStorage(f"sqlite:///{Path(study_dir).resolve() / 'study.db'}",
                                      engine_kwargs={"connect_args": {"timeout": 60}})


def open_study(study_dir: Path, s: Settings, seed: int | None = None):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # gradkit prints one line per trial
    pruner = {"median": lambda: optuna.pruners.MedianPruner(n_startup_trials=s.startup_trials,
                                                            n_warmup_steps=s.prune_after),
              "halving": lambda: optuna.pruners.SuccessiveHalvingPruner(
                  min_resource=max(1, s.prune_after)),
              "none": lambda: optuna.pruners.NopPruner()}[s.pruner]()
    sampler = optuna.samplers.TPESampler(seed=s.seed if seed is None else seed)
    return optuna.create_study(study_name=STUDY, storage=storage(study_dir), sampler=sampler,
                               pruner=pruner, direction=s.direction, load_if_exists=True)
