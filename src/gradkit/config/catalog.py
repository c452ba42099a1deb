"""What the built-in registries hold, known without importing torch: a config's names checked in
milliseconds, before `gradkit train` loads anything heavy.

`catalog.json` beside this file lists the registered data sets, tasks (and the `task:` options
each reads), models and RL algorithms (each one's keys with the JSON schema of its type) and
trackers. It is
generated from the registries themselves (`gradkit.engine.configs.catalog()`; the suite fails when
it is stale) so nothing here is maintained by hand:

    make docs   # regenerates it, with docs/recipes.md

`check` is a fast first pass only: it refuses a value only where pydantic surely would (a word
for a number, a number out of its range, a scalar for a list). The full validation
(`gradkit.engine.configs.check_names`: every type and validator, the environment's action space,
names a user registered in Python) runs when the registries are imported; what passes here may
still fail there, never the other way round.
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


def _keys(section: str, given: dict[str, Any], allowed: dict[str, Any], what: str, source: str) -> None:
    for key, value in given.items():
        if key not in allowed:
            fields = [f"{section}.{f}" for f in allowed]
            hint = did_you_mean(f"{section}.{key}", fields) or f"; valid keys: {', '.join(fields)}"
            raise ConfigError(f"invalid config ({source}):\n  - unknown key '{section}.{key}' "
                              f"for {what}{hint}")
        rule = allowed[key]
        if rule is not None and not accepts(rule, value):
            raise ConfigError(f"invalid config ({source}):\n  - {section}.{key}: {value!r:.60} is "
                              f"not {describe(rule)} ({what})")


# what pydantic's lax mode reads as a bool
BOOL_WORDS = {"0", "1", "true", "false", "t", "f", "yes", "no", "y", "n", "on", "off"}


def accepts(rule: dict[str, Any], value: Any) -> bool:
    """False only where pydantic (lax mode, as gradkit's sections validate) surely refuses
    `value` for a field of JSON schema `rule`; True wherever it may accept it. The full check
    after torch loads decides every case this lets through."""
    branches = rule.get("anyOf") or [rule]
    return any(_branch(b, value) for b in branches)


def _branch(b: dict[str, Any], value: Any) -> bool:
    enum = b.get("enum", [b["const"]] if "const" in b else None)
    if enum is not None:
        return value in enum if all(isinstance(e, str) for e in enum) and isinstance(value, str) else True
    kind = b.get("type")
    if kind == "null":
        return value is None
    if kind == "string":
        return not isinstance(value, (list, dict)) and value is not None
    if kind == "boolean":
        if isinstance(value, str):
            return value.strip().lower() in BOOL_WORDS
        return isinstance(value, (bool, int, float)) and value in (0, 1)
    if kind in ("integer", "number"):
        if isinstance(value, bool):
            return True
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                return False
        if not isinstance(value, (int, float)):
            return False
        if kind == "integer" and value != int(value):
            return False
        return _within(b, value)
    if kind == "array":
        if not isinstance(value, (list, tuple)):
            return False
        items = b.get("items")
        return items is None or all(accepts(items, v) for v in value)
    if kind == "object":
        return isinstance(value, dict)
    return True  # a $ref, allOf or anything else: left to the full check


def _within(b: dict[str, Any], x: float) -> bool:
    return not (("minimum" in b and x < b["minimum"]) or ("maximum" in b and x > b["maximum"])
                or ("exclusiveMinimum" in b and x <= b["exclusiveMinimum"])
                or ("exclusiveMaximum" in b and x >= b["exclusiveMaximum"]))


def describe(rule: dict[str, Any], plural: bool = False) -> str:
    """A field's JSON schema in words: 'an integer >= 1', 'a list of integers >= 1', ..."""
    words = []
    for b in rule.get("anyOf") or [rule]:
        if "enum" in b or "const" in b:
            words.append("one of " + ", ".join(map(str, b.get("enum", [b.get("const")]))))
            continue
        kind = b.get("type")
        nouns = {"integer": ("an integer", "integers"), "number": ("a number", "numbers"),
                 "boolean": ("true or false", "booleans"), "string": ("a string", "strings"),
                 "null": ("null", "nulls"), "object": ("a mapping", "mappings")}
        if kind == "array":
            items = b.get("items")
            text = ("a list" if plural is False else "lists") + (
                f" of {describe(items, plural=True)}" if isinstance(items, dict) else "")
        else:
            text = nouns.get(kind, (str(kind), str(kind)))[1 if plural else 0]
        bounds = [f"{op} {b[k]:g}" for k, op in (("minimum", ">="), ("exclusiveMinimum", ">"),
                                                  ("maximum", "<="), ("exclusiveMaximum", "<")) if k in b]
        words.append(text + (" " + " and ".join(bounds) if bounds else ""))
    return " or ".join(words)


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
