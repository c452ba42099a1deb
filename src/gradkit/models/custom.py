"""`model.name=custom`: your own `nn.Module`, trained by `gk.fit(MyNet(), x, y)`.

The run's config records it as `custom` with the class's import path (`model.module`); run.json
holds what rebuilding it takes (`custom_model`: the class, the constructor arguments gradkit
could read back, the parameter count, a text summary) and `gk.load(run_dir)` rebuilds it from
there when the class can be imported. A config never builds one: recipes name registered
models, not import paths, so this entry only refuses, saying what to do instead.
"""
from __future__ import annotations

import inspect
import json
from typing import Any

from torch import nn

from gradkit.config import Section
from gradkit.errors import ConfigError
from gradkit.models import register


class CustomConfig(Section):
    module: str = ""  # the class's import path, as recorded (e.g. mypackage.nets.MyNet)


@register("custom", CustomConfig, "your own nn.Module, given to gk.fit (recorded, never built "
          "from a config)", user=True)
def build_custom(cfg: CustomConfig, spec: Any) -> nn.Module:
    raise ConfigError(f"model.name=custom records your own module ({cfg.module or 'a class'}); a "
                      "config cannot build it: pass it, gk.fit(MyNet(), x, y) or "
                      "gk.load(run_dir, model=MyNet())")


def describe(model: nn.Module) -> dict[str, Any]:
    """What run.json keeps of a user's module, so `gk.load` can rebuild it (see `rebuild`).

    The constructor's arguments are read back from the instance: its `get_config()` when it has
    one (Keras' convention), else the attributes named like the parameters of `__init__`, kept
    when every parameter without a default is found and the values are plain data.
    """
    cls = type(model)
    path = class_path(model)
    importable = cls.__module__ not in ("__main__", "builtins") and "<locals>" not in cls.__qualname__
    return {"class": path, "importable": importable, "init": init_args(model),
            "n_params": sum(p.numel() for p in model.parameters()),
            "summary": str(model)[:4000]}


def class_path(model: nn.Module) -> str:
    cls = type(model)
    return f"{cls.__module__}.{cls.__qualname__}"


def init_args(model: nn.Module) -> dict[str, Any] | None:
    getter = getattr(model, "get_config", None)
    if callable(getter):
        found = getter()
        return found if _plain(found) else None
    try:
        params = inspect.signature(type(model).__init__).parameters
    except (TypeError, ValueError):
        return None
    found: dict[str, Any] = {}
    for name, p in list(params.items())[1:]:  # skip self
        if p.kind == p.VAR_POSITIONAL:  # nn.Sequential(*layers): nothing to read them back from
            return None
        if p.kind == p.VAR_KEYWORD:
            continue
        if hasattr(model, name) and _plain(getattr(model, name)):
            found[name] = getattr(model, name)
        elif p.default is p.empty:
            return None  # a required argument gradkit cannot read back
    return found


def _plain(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def wrap(model: Any, info: dict[str, Any]) -> nn.Module:
    """The user's module (or (G, D) pair) wrapped as its task wrapped it in training."""
    from gradkit.models.adapters import ADAPTERS, Pair

    if isinstance(model, (tuple, list)):
        model = Pair(*model)
    adapter = info.get("adapter")
    return ADAPTERS[adapter["name"]](model, **adapter["settings"]) if adapter else model


def materialise(model: nn.Module, spec: Any) -> None:
    """Give lazy layers (nn.LazyLinear) their shapes by one forward pass of zeros shaped like the
    data, as the task calls the module; loaders that read parameter shapes need them."""
    import torch
    from torch.nn.parameter import UninitializedParameter

    if not any(isinstance(p, UninitializedParameter) for p in model.parameters()):
        return
    dtype = torch.int64 if spec.kind == "text" else torch.float32
    x = torch.zeros(2, *spec.input_shape, dtype=dtype, device=next(iter(model.buffers()), torch.zeros(0)).device)
    was = model.training
    model.eval()
    with torch.no_grad():
        if hasattr(model, "discriminator") and hasattr(model, "noise"):  # a GAN
            model.discriminator(x)
            model.generator(model.noise(2))
        else:
            model(x)
    model.train(was)


def rebuild(info: dict[str, Any], where: str) -> nn.Module:
    """The user's module class, imported and constructed as `describe` recorded it; a clear
    error saying what to pass when that cannot be done."""
    import importlib

    path = info.get("class", "?")
    how = f"pass it: gk.load({where!r}, model={path.rsplit('.', 1)[-1]}(...))"
    if not info.get("importable"):
        raise ConfigError(f"{where} trained {path}, defined where gradkit cannot import it (a "
                          f"script's __main__ or a notebook); {how}")
    if info.get("init") is None:
        raise ConfigError(f"{where} trained {path}, whose constructor arguments gradkit could not "
                          f"read back (give the class a get_config() returning them); {how}")
    module_name, _, qualname = path.rpartition(".")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
        return obj(**info["init"])
    except Exception as exc:  # ImportError, AttributeError, a constructor that changed
        raise ConfigError(f"{where} trained {path}, which could not be rebuilt ({type(exc).__name__}: "
                          f"{exc}); {how}") from None
