"""Configs resolved against the registries: the schema's checks (`gradkit.config`), then every
name a config uses looked up where it is registered: the data set, the task, the model with
its own typed options, the RL algorithm with its options, the trackers. Each miss is a
ConfigError naming the key and what is registered, with a "did you mean".

    >>> cfg = resolve("fashion-mlp", overrides=["optim.lr=3e-4", "train.epochs=10"])
    >>> cfg, runs = resolve_runs("adding-rnn-vs-lstm", overrides=["data.length=50"])
    >>> list(runs), runs["lstm"].model["name"], runs["lstm"].data.length
    (['rnn', 'lstm'], 'lstm', 50)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gradkit import config as C
from gradkit.config.catalog import OPTION_PURPOSE
from gradkit.errors import ConfigError, did_you_mean


def resolve(recipe: str | None = None, file: str | Path | None = None,
            overrides: list[str] | dict[str, Any] | None = None) -> C.RunConfig:
    """Recipe, then the user's file, then overrides -> a validated `RunConfig`."""
    return resolve_runs(recipe, file, overrides)[0]


def resolve_runs(recipe: str | None = None, file: str | Path | None = None,
                 overrides: list[str] | dict[str, Any] | None = None
                 ) -> tuple[C.RunConfig, dict[str, C.RunConfig]]:
    """`resolve`, plus each variant's own validated config ({} without `variants:`).

    Every variant is validated here, before anything trains; an error names the variant.
    """
    raw, extra, where = C.gather(recipe, file, overrides)
    cfg = validate(raw, where)
    runs = {}
    for name, (merged, source) in C.variant_raws(raw, extra, cfg, where).items():
        try:
            runs[name] = validate(merged, source)
        except ConfigError as exc:  # a registry's error (unknown model...) names no source
            if source in str(exc):
                raise
            raise ConfigError(f"invalid config ({source}): {exc}") from None
    return cfg, runs


def validate(raw: dict[str, Any], source: str = "config", data: bool = True) -> C.RunConfig:
    """A raw mapping -> `RunConfig`: the schema, then the registered names and the model's (and
    RL algorithm's) own schema, whose defaults it fills in. `data=False` leaves the data set's
    name unchecked (reloading a run for prediction needs no data: it may have been added in
    another process, `gradkit.data.add`)."""
    cfg = C.parse(raw, source)
    check_names(cfg, source, data)
    return cfg


def load_file(path: str | Path, data: bool = True) -> C.RunConfig:
    """Reload a resolved config exactly (e.g. a run directory's config.yaml)."""
    return validate(C.read_yaml(Path(path)), str(path), data)


def check_names(cfg: C.RunConfig, source: str, data: bool = True) -> None:
    """Look up every name `cfg` uses; fill in the model's and RL algorithm's defaults."""
    from gradkit.data import DATASETS
    from gradkit.models import MODELS
    from gradkit.tasks import TASKS
    from gradkit.track import TRACKERS

    if cfg.rl:
        from gradkit.rl import validate_rl

        cfg.rl = validate_rl(cfg.rl, source)
        _unused_by_rl(cfg, {"name": "mlp", **MODELS.get("mlp").config().model_dump(mode="json")}, source)
    for name in cfg.output.track:
        if name not in TRACKERS:
            raise ConfigError(f"invalid config ({source}): output.track: unknown tracker '{name}'"
                              f"{did_you_mean(name, TRACKERS)}; choose from {', '.join(TRACKERS)}")
    if data:
        DATASETS.get(cfg.data.name, key="data.name")
    _check_task_options(cfg.task, TASKS, source)
    model = dict(cfg.model)
    name = model.pop("name", None)
    if not isinstance(name, str):
        raise ConfigError(f"invalid config ({source}): model.name is required, e.g. model.name=mlp")
    entry = MODELS.get(name, key="model.name")
    try:
        typed = entry.config.model_validate(model)
    except ValidationError as exc:
        raise ConfigError(C.format_validation_error(exc, entry.config, source, prefix="model")) from None
    cfg.model = {"name": name, **typed.model_dump(mode="json")}
    if entry.own_tokenizer:  # a pretrained model reads its own tokenizer's ids, nothing else
        wanted = cfg.model["pretrained"]
        if cfg.data.pretrained not in (None, wanted):
            raise ConfigError(f"invalid config ({source}): data.pretrained={cfg.data.pretrained} "
                              f"differs from model.pretrained={wanted}; drop data.pretrained")
        cfg.data.tokenizer, cfg.data.pretrained = "pretrained", wanted


def _unused_by_rl(cfg: C.RunConfig, default_model: dict[str, Any], source: str) -> None:
    """An RL run reads `rl:` (and the shared keys), never data/model/task/optim/train: a key set
    there would be silently ignored, and its config.yaml could not say which keys mattered."""
    defaults = {"data": C.DataConfig(), "task": C.TaskConfig(), "optim": C.OptimConfig(),
                "train": C.TrainConfig()}
    unused = [name for name, default in defaults.items() if getattr(cfg, name) != default]
    if cfg.model not in ({"name": "mlp"}, default_model):  # older config.yaml files hold the filled-in one
        unused.insert(1, "model")
    if unused:
        raise ConfigError(f"invalid config ({source}): a reinforcement-learning run (rl.algo="
                          f"{cfg.rl.get('algo')}) does not read {', '.join(n + ':' for n in unused)}; "
                          "its settings are rl.* keys (e.g. rl.lr, rl.hidden, rl.total_steps, "
                          "rl.threads): drop the " + " and ".join(unused) + " keys")


def _check_task_options(task_cfg: C.TaskConfig, tasks: Any, source: str) -> None:
    """Each task option set away from its default must be one the task reads (`Task.options`):
    `task.noise` on a VAE would be ignored, silently."""
    task = tasks.get(task_cfg.name, key="task.name")
    defaults = C.TaskConfig.model_fields
    for key in defaults:
        if key in ("name", "loss") or getattr(task_cfg, key) == defaults[key].default:
            continue
        if key not in getattr(task, "options", ()):
            users = [n for n in tasks.names() if key in getattr(tasks.get(n), "options", ())]
            raise ConfigError(f"invalid config ({source}): task.{key} "
                              f"{OPTION_PURPOSE.get(key, 'applies to')} task.name="
                              f"{' or '.join(users)} only, not {task_cfg.name}")


def catalog() -> dict[str, Any]:
    """What the registries hold, as `gradkit.config.catalog` reads it without importing them: the
    names, and for each model and RL algorithm its keys with the JSON schema of each one's type
    (None where a validator of the class may accept more than the type says)."""
    from gradkit.data import DATASETS
    from gradkit.models import MODELS
    from gradkit.rl import ALGOS
    from gradkit.tasks import TASKS
    from gradkit.track import TRACKERS

    return {"data": DATASETS.names(),
            "tasks": {n: sorted(getattr(TASKS.get(n), "options", ())) for n in TASKS.names()},
            "models": {n: _field_rules(MODELS.get(n).config) for n in MODELS.names()},
            "rl": {n: _field_rules(ALGOS.get(n).config) for n in ALGOS.names()},
            "trackers": list(TRACKERS)}


def _field_rules(cls: type) -> dict[str, Any]:
    """{key: the field's JSON schema, or None when a `before`/`wrap` validator may widen it}."""
    decorators = cls.__pydantic_decorators__
    widened = {f for d in decorators.field_validators.values() if d.info.mode in ("before", "wrap", "plain")
               for f in d.info.fields}
    if any(d.info.mode in ("before", "wrap") for d in decorators.model_validators.values()):
        widened = set(cls.model_fields)
    props = cls.model_json_schema().get("properties", {})
    return {key: None if key in widened else _bare(props.get(key)) for key in cls.model_fields}


def _bare(schema: Any) -> Any:
    """A JSON schema without the words (title, description, default): what a value must be."""
    if isinstance(schema, dict):
        return {k: _bare(v) for k, v in schema.items() if k not in ("title", "description", "default")}
    if isinstance(schema, list):
        return [_bare(v) for v in schema]
    return schema
