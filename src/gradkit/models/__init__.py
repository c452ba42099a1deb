"""Models by name. Each entry pairs a builder with its typed config (presets are entries whose
config has other defaults), so `model.name=simple-nn model.dropout=0.1` validates like any other.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from gradkit.config import Section
from gradkit.registry import Registry


@dataclass(frozen=True)
class ModelEntry:
    build: Callable[[Any, Any], nn.Module]  # (typed config, DataSpec) -> module
    config: type[Section]
    description: str
    own_tokenizer: bool = False  # pretrained: the data is tokenised by `model.pretrained`'s tokenizer
    user: bool = False  # a user's own module (gk.fit): recorded in configs, never built from one


MODELS: Registry[ModelEntry] = Registry("model")


def register(name: str, config: type[Section], description: str, own_tokenizer: bool = False,
             user: bool = False) -> Callable:
    """Decorator: `@register("mlp", MLPConfig, "...")` on a builder `(cfg, spec) -> nn.Module`."""

    def decorator(builder: Callable[[Any, Any], nn.Module]) -> Callable[[Any, Any], nn.Module]:
        MODELS.register(name, ModelEntry(builder, config, description, own_tokenizer, user))
        return builder

    return decorator


def build(model_cfg: dict[str, Any], spec: Any) -> nn.Module:
    """Build the registered model a config's `model` section names, sized for `spec`."""
    options = dict(model_cfg)
    entry = MODELS.get(options.pop("name"), key="model.name")
    return entry.build(entry.config.model_validate(options), spec)


# Importing the families registers them.
from gradkit.models import (autoencoder, bert, cnn, custom, gan, mlp, resnet,  # noqa: E402,F401
                            rnn, transfer, transformer, vae)

__all__ = ["MODELS", "ModelEntry", "build", "register"]
