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
