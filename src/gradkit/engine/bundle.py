"""Reading a bundle: a trained model as plain data, loadable without pickle or the run directory.

    BUNDLE/
      manifest.json      format, gradkit version, the run's resolved config (architecture:
                         model and task sections; data section and seed for `evaluate`), the
                         data spec (input shape, normalisation statistics, label names), what
                         the inputs are, the weights' file and SHA-256, the export check
      model.safetensors  the weights (safetensors: a JSON header and raw tensors, no code)
      tokenizer.json     text models: the `tokenizers` vocabulary that turns text into ids

`gk.load(BUNDLE)` reads one (here); `gradkit export RUN_DIR --format bundle` writes one
(gradkit/export/bundle.py). `torch.load` of a `.pt` file unpickles, and unpickling can run
code; nothing here does.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from gradkit.errors import CheckpointError, GradkitError

FORMAT = "gradkit-bundle-1"
MANIFEST, WEIGHTS, TOKENIZER = "manifest.json", "model.safetensors", "tokenizer.json"


def is_bundle(path: str | Path) -> bool:
    return (Path(path) / MANIFEST).is_file()


def load_bundle(path: str | Path, device: str = "cpu", model: Any = None) -> Any:
    """A bundle folder -> a gradkit Run (predict, classify, evaluate), from JSON and safetensors
    only; a user's own module is rebuilt from its recorded class, or passed as `model`."""
    import gradkit.models
    import gradkit.tasks
    from gradkit.data import DataSpec
    from gradkit.engine.configs import validate
    from gradkit.engine.run import Run

    path = Path(path)
    manifest = read_manifest(path)
    raw_spec = dict(manifest["spec"])
    tok = path / TOKENIZER
    raw_spec["tokenizer"] = tok.read_text(encoding="utf-8") if tok.is_file() else None
    spec = DataSpec.from_dict(raw_spec)
    cfg = validate(manifest["config"], str(path / MANIFEST), data=False)
    weights = _inside(path, manifest.get("weights", {}).get("file"))
    if not weights.is_file() or sha256(weights) != manifest["weights"]["sha256"]:
        raise CheckpointError(f"{weights} is missing or does not match the SHA-256 in {path / MANIFEST}: "
                              "the bundle is damaged; export it again")
    custom = manifest.get("custom_model")
    if custom:
        from gradkit.models.custom import materialise, rebuild, wrap

        model = wrap(model if model is not None else rebuild(custom, str(path)), custom)
        materialise(model, spec)
    else:
        model = gradkit.models.build(_offline(cfg.model), spec)
    safetensors().load_model(model, str(weights), strict=True, device=device)
    model.to(device).eval()
    task = gradkit.tasks.build(cfg.task, model, spec)
    return Run(path, cfg, spec, model, task, manifest.get("metrics", {}), torch.device(device))


def _inside(folder: Path, name: Any) -> Path:
    """The bundle file a manifest names, which must lie inside the bundle's folder (a manifest
    naming ../../elsewhere or /abs/path would load weights from outside what was shared)."""
    if not isinstance(name, str) or not name:
        raise CheckpointError(f"{folder / MANIFEST} names no weights file: the bundle is damaged; "
                              "export it again")
    root = folder.resolve()
    target = (root / name).resolve()
    if Path(name).is_absolute() or root not in target.parents:
        raise CheckpointError(f"{folder / MANIFEST} names the weights file {name!r}, outside the bundle "
                              f"folder: a bundle reads only its own files; export it again")
    return target


def read_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path / MANIFEST} is not readable JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a gradkit bundle (no '{FORMAT}' in {MANIFEST})")
    return manifest


def _offline(model_cfg: dict[str, Any]) -> dict[str, Any]:
    """A pretrained backbone is built without its original weights: the bundle's replace them."""
    if model_cfg.get("name") == "pretrained":
        return {**model_cfg, "weights": "none"}
    return model_cfg


def safetensors() -> Any:
    try:
        import safetensors.torch
    except ImportError:
        raise GradkitError("bundles store their weights with safetensors: pip install "
                           "'gradkit[export]'") from None
    return safetensors.torch


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
