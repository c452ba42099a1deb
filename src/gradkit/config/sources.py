"""Where a config comes from: the packaged recipe files, YAML files, and `KEY=VALUE` overrides,
merged into one raw mapping that `gradkit.config` validates.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from gradkit.errors import ConfigError, did_you_mean


# ---------------------------------------------------------------- recipes


def recipe_dir() -> Path:
    return Path(__file__).parents[1] / "recipes"


def recipe_names() -> list[str]:
    return sorted(p.stem for p in recipe_dir().glob("*.yaml"))


def load_recipe(name: str) -> dict[str, Any]:
    """The raw mapping of a packaged recipe, with `name` set."""
    names = recipe_names()
    if not isinstance(name, str) or name not in names:  # never a path: `base: ../../x` reads nothing
        raise ConfigError(
            f"unknown recipe '{name}'{did_you_mean(name, names)}; "
            f"`gradkit recipes` lists them: {', '.join(names)}"
        )
    raw = read_yaml(recipe_dir() / f"{name}.yaml")
    raw.setdefault("name", name)
    return raw


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"{path} is a folder; give a YAML config file") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text (byte {exc.start}: {exc.reason}); save it "
                          "as UTF-8") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path} nests too deeply to be a config") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a mapping of config keys, got {type(raw).__name__}")
    return raw


# ---------------------------------------------------------------- merging and overrides


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """`update` over `base`, mapping by mapping. A section given as a name (`task: forecast`)
    merges as {name: forecast}; one given as any other single value (`train: 5`) cannot take
    a section's keys, and is an error rather than silently replaced."""
    out = dict(base)
    for key, value in update.items():
        current = out.get(key)
        if isinstance(value, dict) and isinstance(current, str):
            current = {"name": current}
        if isinstance(value, dict) and isinstance(current, dict):
            out[key] = deep_merge(current, value)
        elif isinstance(value, dict) and current is not None:
            inner = ", ".join(f"{k}: {v!r:.30}" for k, v in list(value.items())[:2])
            raise ConfigError(f"{key}: {current!r:.40} is a single value where a section belongs "
                              f"(a mapping of keys such as {{{inner}}}); write {key}: {{...}} with "
                              f"its keys, e.g. {key}: {{{inner}}}")
        else:
            out[key] = value
    return out


_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def parse_value(text: str) -> Any:
    """A YAML scalar or list; `1e-3` is a float (plain YAML 1.1 would keep it a string)."""
    if _FLOAT.fullmatch(text.strip()) and not re.fullmatch(r"[-+]?\d+", text.strip()):
        return float(text)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """['optim.lr=3e-4', 'model.hidden=[256,128]'] -> nested mapping."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override '{item}' must look like KEY=VALUE, e.g. train.epochs=5")
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override '{item}' conflicts with an earlier override")
        node[parts[-1]] = parse_value(text)
    return out
