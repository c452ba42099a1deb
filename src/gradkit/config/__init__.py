"""The run configuration: one typed schema, YAML recipes, dotted overrides, clear errors.

A run is described by `RunConfig` (schema.py). Recipes are YAML files holding a partial config;
a user's file may name a `base` recipe; `KEY=VALUE` overrides are applied last (sources.py).
Every problem is reported with its dotted key, what was expected and a "did you mean"
suggestion (messages.py).

This package is a leaf: it knows the schema, not what is registered. `gradkit.engine.configs`
adds the registries' checks (data set, model and its options, task, RL algorithm, trackers)
and is what callers use to get a config to run:

    >>> from gradkit.engine import resolve
    >>> resolve("fashion-mlp", overrides=["optim.lr=3e-4"]).optim.lr
    0.0003
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from gradkit.config.messages import format_validation_error
from gradkit.config.partition import PartitionSpec, parse_partition
from gradkit.config.schema import (DataConfig, FederatedConfig, OptimConfig, OutputConfig,
                                   RunConfig, Section, TaskConfig, TrainConfig, Widths)
from gradkit.config.sources import (deep_merge, load_recipe, parse_overrides, parse_value,
                                    read_yaml, recipe_dir, recipe_names)
from gradkit.errors import ConfigError


def gather(recipe: str | None = None, file: str | Path | None = None,
           overrides: list[str] | dict[str, Any] | None = None
           ) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Recipe, then the user's file, then overrides, merged: (raw mapping, the overrides'
    mapping, a description of where it came from for messages)."""
    raw: dict[str, Any] = {}
    source = []
    if recipe:
        raw = load_recipe(recipe)
        source.append(f"recipe '{recipe}'")
    if file:
        user = read_yaml(Path(file))
        base = user.pop("base", None)
        if base is not None and not isinstance(base, str):
            raise ConfigError(f"{file}: base must be a recipe name (`gradkit recipes` lists them), "
                              f"got {base!r:.60}")
        if base and not recipe:
            raw = load_recipe(base)
        user.setdefault("name", Path(file).stem if not raw.get("name") else raw["name"])
        raw = deep_merge(raw, user)
        source.append(str(file))
    extra: dict[str, Any] = {}
    if overrides:
        extra = parse_overrides(overrides) if isinstance(overrides, list) else overrides
        raw = deep_merge(raw, extra)
        source.append("overrides")
    return raw, extra, " + ".join(source) or "defaults"


def variant_raws(raw: dict[str, Any], extra: dict[str, Any], cfg: RunConfig, where: str
                 ) -> dict[str, tuple[dict[str, Any], str]]:
    """Each variant's raw mapping and source: the config deep-merged with its overrides, then
    with the command-line overrides again, so `data.length=50` reaches every variant even where
    one sets it."""
    common = {k: v for k, v in raw.items() if k not in ("variants", "lesson")}  # the parent's
    extra = {k: v for k, v in extra.items() if k not in ("variants", "lesson")}
    return {name: ({**deep_merge(deep_merge(common, over), extra), "name": f"{cfg.name}/{name}"},
                   f"{where}, variant '{name}'") for name, over in cfg.variants.items()}


def parse(raw: dict[str, Any], source: str = "config") -> RunConfig:
    """A raw mapping -> `RunConfig`, checked against the schema (not the registries)."""
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, RunConfig, source)) from None


def parse_file(path: str | Path) -> RunConfig:
    """A config file (e.g. a run directory's config.yaml) checked against the schema."""
    return parse(read_yaml(Path(path)), str(path))


# what a run of each kind never reads (engine.configs refuses them set away from their defaults)
UNUSED_BY_RL = ("data", "model", "task", "optim", "train")


def written(cfg: RunConfig) -> dict[str, Any]:
    """The config as a run directory's config.yaml holds it: the keys the run used. An RL run has
    no data/model/task/optim/train sections, a supervised one no `rl:`; empty variants, seeds,
    lesson and federated entries are left out. Every key left out is at its default, so the file
    reloads to the same config (`engine.load_file`)."""
    raw = cfg.to_dict()
    drop = set(UNUSED_BY_RL) if cfg.rl else {"rl"}
    drop |= {k for k in ("variants", "seeds", "lesson", "federated") if raw.get(k) in (None, {})}
    return {k: v for k, v in raw.items() if k not in drop}


def dump(cfg: RunConfig) -> str:
    return yaml.safe_dump(written(cfg), sort_keys=False)


__all__ = ["DataConfig", "FederatedConfig", "OptimConfig", "OutputConfig", "PartitionSpec",
           "RunConfig", "Section", "TaskConfig", "TrainConfig", "UNUSED_BY_RL", "Widths", "deep_merge", "dump",
           "format_validation_error", "gather", "load_recipe", "parse", "parse_file",
           "parse_overrides", "parse_partition", "parse_value", "read_yaml", "recipe_dir",
           "recipe_names", "variant_raws", "written"]
