"""gradkit: the classic deep-learning systems as named, fast, one-command recipes on PyTorch.

    import gradkit as gk
    run = gk.train("fashion-mlp", train={"epochs": 5})
    run.metrics["test/accuracy"]; run.predict(x); gk.load(run.dir)

Everything heavy (torch and friends) is imported on first use, so `gradkit --help` is instant.
"""
from __future__ import annotations

import importlib
from typing import Any

from gradkit.version import __version__  # noqa: F401  (gradkit.__version__)

_API = {"train", "resume", "fit", "load", "evaluate", "resolve"}
_SUBMODULES = {"data", "models", "tasks", "metrics", "report", "config", "rl", "engine"}


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module("gradkit.api"), name)
    if name == "generate":
        return importlib.import_module("gradkit.sampling").generate
    if name == "embed":
        return importlib.import_module("gradkit.embeddings").embed
    if name in _SUBMODULES:
        return importlib.import_module(f"gradkit.{name}")
    raise AttributeError(f"module 'gradkit' has no attribute '{name}'")


__all__ = sorted(_API | _SUBMODULES | {"generate", "embed", "__version__"})
