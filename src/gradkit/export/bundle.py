"""Writing a bundle: a trained model as plain data (manifest.json, model.safetensors and, for
text models, tokenizer.json), loadable without pickle or the run directory. The format, and
reading it back (`gk.load(BUNDLE)`), are the engine's: gradkit/engine/bundle.py.

    gradkit export RUN_DIR --format bundle --out my-model
    run = gk.load("my-model"); run.classify(images)
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from gradkit.engine.bundle import (FORMAT, MANIFEST, TOKENIZER, WEIGHTS, is_bundle,  # noqa: F401
                                   safetensors, sha256)
from gradkit.data.inputs import describe_input
from gradkit.errors import GradkitError


def write_bundle(run: Any, out: Path) -> Path:
    """Write `run` (a loaded gradkit Run) as a bundle in the folder `out`; returns its manifest path."""
    from gradkit.version import __version__

    save_model = safetensors().save_model

    _check_rebuildable(run)
    out.mkdir(parents=True, exist_ok=True)
    spec = run.spec.to_dict()
    tokenizer = spec.pop("tokenizer")
    if tokenizer is not None:
        (out / TOKENIZER).write_text(tokenizer, encoding="utf-8")
    save_model(run.model.cpu(), str(out / WEIGHTS), force_contiguous=True)  # tied tensors: once
    (out / WEIGHTS).chmod(0o644)  # safetensors writes 0600; a bundle is meant to be shared
    manifest = {
        "format": FORMAT, "gradkit_version": __version__, "torch_version": torch.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "source_run": str(run.dir),
        "name": run.config.name, "task": run.spec.task, "kind": run.spec.kind,
        "input": describe_input(run.spec), "labels": run.spec.class_names,
        "preprocessing": {"mean": run.spec.mean, "std": run.spec.std, "pixel_max": run.spec.pixel_max,
                          "tokenizer": TOKENIZER if tokenizer is not None else None,
                          "tokenizer_reference": run.config.data.pretrained,
                          "max_length": run.spec.input_shape[0] if run.spec.kind == "text" else None},
        "config": run.config.to_dict(), "spec": spec, "metrics": run.metrics,
        "custom_model": _custom_model(run),
        "weights": {"file": WEIGHTS, "sha256": sha256(out / WEIGHTS),
                    "n_params": sum(p.numel() for p in run.model.parameters())},
    }
    path = out / MANIFEST
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return path


def _custom_model(run: Any) -> dict | None:
    """A user's module: what gk.load needs to rebuild it (the run's run.json record)."""
    info = Path(run.dir) / "run.json"
    if not info.is_file():  # a bundle exported again keeps its manifest's
        return None
    return json.loads(info.read_text(encoding="utf-8")).get("custom_model") or None


def _check_rebuildable(run: Any) -> None:
    if run.config.model.get("name") == "pretrained" and run.config.model.get("backbone") == "run":
        raise GradkitError("a model whose backbone is another gradkit run cannot be bundled yet (its "
                           "architecture lives in that run); export it with --format onnx instead")
