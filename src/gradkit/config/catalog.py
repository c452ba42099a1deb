"""What the built-in registries hold, known without importing torch: a config's names checked in
milliseconds, before `gradkit train` loads anything heavy.

`catalog.json` beside this file lists the registered data sets, tasks (and the `task:` options
each reads), models (and each model's own keys), RL algorithms (and their keys) and trackers. It is
generated from the registries themselves (`gradkit.engine.configs.catalog()`; the suite fails when
it is stale) so nothing here is maintained by hand:

    make docs   # regenerates it, with docs/recipes.md

`check` is a fast first pass only. The full validation (`gradkit.engine.configs.check_names`:
the option values' types and ranges, the environment's action space, names a user registered in
Python) runs when the registries are imported; what passes here may still fail there, never the
other way round.
"""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from gradkit.config.schema import RunConfig, TaskConfig
from gradkit.errors import ConfigError, did_you_mean

CATALOG_FILE = Path(__file__).with_name("catalog.json")
OPTION_PURPOSE = {"fid": "scores generated images:", "fid_classifier": "scores generated images:"}


@cache
def load() -> dict[str, Any]:
    return json.loads(CATALOG_FILE.read_text())


def _name(kind: str, name: Any, key: str, known: Any, source: str) -> None:
    if name not in known:
        raise ConfigError(f"invalid config ({source}): {key}: unknown {kind} '{name}'"
                          f"{did_you_mean(str(name), list(known))}; choose one of: "
                          f"{', '.join(sorted(known))}")


def _keys(section: str, given: dict[str, Any], allowed: list[str], what: str, source: str) -> None:
    for key in given:
        if key not in allowed:
            fields = [f"{section}.{f}" for f in allowed]
            hint = did_you_mean(f"{section}.{key}", fields) or f"; valid keys: {', '.join(fields)}"
            raise ConfigError(f"invalid config ({source}):\n  - unknown key '{section}.{key}' "
                              f"for {what}{hint}")


def check(cfg: RunConfig, source: str) -> None:
    """The names and keys of `cfg` against the built-in catalogue (see the module's doc)."""
    cat = load()
    for name in cfg.output.track:
        _name("tracker", name, "output.track", cat["trackers"], source)
    if cfg.rl:
        rl = dict(cfg.rl)
        if "algo" not in rl:
            raise ConfigError(f"invalid config ({source}): rl.algo is required "
                              f"({' or '.join(cat['rl'])})")
        _name("RL algorithm", rl["algo"], "rl.algo", cat["rl"], source)
        _keys("rl", rl, cat["rl"][rl["algo"]], f"rl.algo={rl['algo']}", source)
    _name("data set", cfg.data.name, "data.name", cat["data"], source)
    _name("task", cfg.task.name, "task.name", cat["tasks"], source)
    reads = cat["tasks"][cfg.task.name]
    for key, field in TaskConfig.model_fields.items():
        if key in ("name", "loss") or getattr(cfg.task, key) == field.default or key in reads:
            continue
        users = [n for n, opts in cat["tasks"].items() if key in opts]
        raise ConfigError(f"invalid config ({source}): task.{key} "
                          f"{OPTION_PURPOSE.get(key, 'applies to')} task.name="
                          f"{' or '.join(users)} only, not {cfg.task.name}")
    model = dict(cfg.model)
    name = model.pop("name", None)
    if not isinstance(name, str):
        raise ConfigError(f"invalid config ({source}): model.name is required, e.g. model.name=mlp")
    _name("model", name, "model.name", cat["models"], source)
    _keys("model", model, cat["models"][name], f"model.name={name}", source)
