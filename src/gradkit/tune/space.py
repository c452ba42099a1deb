"""The search space: `--space KEY=DISTRIBUTION:ARGS` items, checked against the config schema.

    optim.lr=loguniform:1e-4:1e-1        a float, uniform in log space
    model.dropout=uniform:0:0.5          a float
    train.batch_size=choice:32,64,128    one of the values (read as YAML: numbers, words, [lists])
    model.layers=int:1:4                 an integer in [1, 4] (int:1:9:2 steps by 2; logint: log)

Every key must be a config key of the recipe (with a did-you-mean), and the lowest and highest
value of each dimension (each choice) must validate, so a bad space fails before any trial.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from gradkit import config as C
from gradkit.errors import ConfigError, did_you_mean

DISTRIBUTIONS = {"uniform": "LOW:HIGH", "loguniform": "LOW:HIGH", "int": "LOW:HIGH[:STEP]",
                 "logint": "LOW:HIGH", "choice": "A,B,C"}
FIXED = ("name", "description", "reproduces", "reaches", "variants", "output")


@dataclass(frozen=True)
class Dimension:
    """One tuned config key and its distribution."""

    key: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    step: int = 1
    choices: tuple[Any, ...] = ()
    text: str = field(default="", compare=False)  # as given: KEY=DISTRIBUTION:ARGS

    def suggest(self, trial) -> Any:
        """This dimension's value for an Optuna trial (choices that are lists travel as text)."""
        if self.kind in ("uniform", "loguniform"):
            return trial.suggest_float(self.key, self.low, self.high, log=self.kind == "loguniform")
        if self.kind in ("int", "logint"):
            return trial.suggest_int(self.key, int(self.low), int(self.high), step=self.step,
                                     log=self.kind == "logint")
        value = trial.suggest_categorical(self.key, [_storable(c) for c in self.choices])
        return self.value(value)

    def value(self, stored: Any) -> Any:
        """A stored Optuna value back as the config value ('[128, 64]' -> [128, 64])."""
        if self.kind == "choice" and isinstance(stored, str) and stored not in self.choices:
            return C.parse_value(stored)
        return stored

    def extremes(self) -> list[Any]:
        if self.kind == "choice":
            return list(self.choices)
        if self.kind in ("int", "logint"):
            return [int(self.low), int(self.high)]
        return [self.low, self.high]

    def __str__(self) -> str:
        return self.text


def _storable(value: Any) -> Any:
    """Optuna stores None, bools, numbers and strings; a list is kept as its YAML text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value).replace("'", "")


def parse(items: list[str]) -> list[Dimension]:
    """`--space` items -> dimensions; syntax errors name the item and the expected form."""
    dims = [_parse_one(item) for item in items]
    keys = [d.key for d in dims]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ConfigError(f"--space names {', '.join(twice)} more than once")
    if not dims:
        raise ConfigError("give at least one --space, e.g. --space optim.lr=loguniform:1e-4:1e-1")
    return dims


def _parse_one(item: str) -> Dimension:
    key, sep, spec = item.partition("=")
    key, spec = key.strip(), spec.strip()
    kind, _, args = spec.partition(":")
    if not sep or not key or not spec:
        raise ConfigError(f"--space '{item}' must look like KEY=DISTRIBUTION:ARGS, e.g. "
                          "optim.lr=loguniform:1e-4:1e-1 or train.batch_size=choice:32,64,128")
    if kind not in DISTRIBUTIONS:
        raise ConfigError(f"--space '{item}': unknown distribution '{kind}'"
                          f"{did_you_mean(kind, DISTRIBUTIONS)}; choose one of "
                          + ", ".join(f"{k}:{v}" for k, v in DISTRIBUTIONS.items()))
    form = f"{key}={kind}:{DISTRIBUTIONS[kind]}"
    if kind == "choice":
        texts = [t.strip() for t in _split_choices(args)]
        if len(texts) < 2 or not all(texts):
            raise ConfigError(f"--space '{item}': choice needs two or more values, e.g. "
                              f"{key}=choice:32,64,128")
        return Dimension(key, kind, choices=tuple(C.parse_value(t) for t in texts), text=item)
    parts = args.split(":")
    if len(parts) not in ((2, 3) if kind == "int" else (2,)):
        raise ConfigError(f"--space '{item}': {kind} needs {DISTRIBUTIONS[kind]}, as in {form}")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise ConfigError(f"--space '{item}': bounds must be numbers, as in {form}") from None
    low, high = numbers[0], numbers[1]
    whole = kind in ("int", "logint")
    if whole and any(n != int(n) for n in numbers):
        raise ConfigError(f"--space '{item}': {kind} bounds must be whole numbers")
    if not low < high:
        raise ConfigError(f"--space '{item}': the low bound must be below the high one")
    if kind.startswith("log") and low <= 0:
        raise ConfigError(f"--space '{item}': {kind} needs a low bound above 0 (log scale)")
    step = int(numbers[2]) if len(numbers) == 3 else 1
    if step < 1:
        raise ConfigError(f"--space '{item}': the step must be 1 or more")
    return Dimension(key, kind, low, high, step, text=item)


def _split_choices(text: str) -> list[str]:
    """Split 'a,[1,2],b' on the commas outside brackets."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def check(dims: list[Dimension], base: C.RunConfig, resolve) -> None:
    """Each key exists in the recipe's schema; each dimension's extremes validate.

    `resolve(overrides: dict)` builds the config with extra overrides (recipe, file and the
    user's own overrides under them), as each trial will.
    """
    for dim in dims:
        _check_key(dim.key, base)
        for value in dim.extremes():
            try:
                resolve(nested({dim.key: value}))
            except ConfigError as exc:
                raise ConfigError(f"--space {dim}: {dim.key}={value} is not a valid value:\n{exc}") from None


def _check_key(key: str, base: C.RunConfig) -> None:
    parts = key.split(".")
    if parts[0] in FIXED:
        raise ConfigError(f"--space {key}: {parts[0]} is not a hyperparameter; tune data, model, "
                          "task, optim, train, rl or seed keys")
    if key == "model.name":  # another architecture: its name is checked with the extremes
        return
    schema, where = _schema_at(parts[:-1], base)
    if schema is None:
        raise ConfigError(f"--space {key}: {'.'.join(parts[:-1])} is not a config section"
                          f"{did_you_mean('.'.join(parts[:-1]), _sections(base))}")
    fields = [f for f in schema.model_fields if f != "name" or parts[0] != "model"]
    if parts[-1] not in schema.model_fields:
        full = [f"{where}{f}" for f in fields]
        raise ConfigError(f"--space {key}: unknown config key{did_you_mean(key, full)}; keys here: "
                          + ", ".join(full))
    ann = schema.model_fields[parts[-1]].annotation
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        raise ConfigError(f"--space {key} is a section; name one of its keys, e.g. {key}."
                          f"{next(iter(ann.model_fields))}")


def _schema_at(path: list[str], base: C.RunConfig) -> tuple[type[BaseModel] | None, str]:
    if not path:
        return C.RunConfig, ""
    if path == ["model"]:
        from gradkit.models import MODELS

        return MODELS.get(base.model["name"]).config, "model."
    if path == ["rl"] and base.rl:
        from gradkit.rl import ALGOS

        return ALGOS.get(base.rl["algo"], key="rl.algo").config, "rl."
    field = C.RunConfig.model_fields.get(path[0]) if len(path) == 1 else None
    ann = getattr(field, "annotation", None)
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann, f"{path[0]}."
    return None, ""


def _sections(base: C.RunConfig) -> list[str]:
    return ["data", "model", "task", "optim", "train"] + (["rl"] if base.rl else [])


def nested(values: dict[str, Any]) -> dict[str, Any]:
    """{'optim.lr': 0.01} -> {'optim': {'lr': 0.01}}."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        node = out
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return out
