"""The bundle: a trained model as plain data, loadable without pickle or the run directory.

    BUNDLE/
      manifest.json      format, gradkit version, the run's resolved config (architecture:
                         model and task sections; data section and seed for `evaluate`), the
                         data spec (input shape, normalisation statistics, label names), what
                         the inputs are, the weights' file and SHA-256, the export check
      model.safetensors  the weights (safetensors: a JSON header and raw tensors, no code)
      tokenizer.json     text models: the `tokenizers` vocabulary that turns text into ids

    gradkit export RUN_DIR --format bundle --out my-model
    run = gk.load("my-model"); run.classify(images)

`torch.load` of a `.pt` file unpickles, and unpickling can run code; nothing here does.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import torch

from gradkit.errors import CheckpointError, GradkitError

FORMAT = "gradkit-bundle-1"
MANIFEST, WEIGHTS, TOKENIZER = "manifest.json", "model.safetensors", "tokenizer.json"


def is_bundle(path: str | Path) -> bool:
    return (Path(path) / MANIFEST).is_file()


def write_bundle(run: Any, out: Path) -> Path:
    """Write `run` (a loaded gradkit Run) as a bundle in the folder `out`; returns its manifest path."""
    from gradkit.version import __version__

    save_model = _safetensors().save_model

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
        "weights": {"file": WEIGHTS, "sha256": _sha256(out / WEIGHTS),
                    "n_params": sum(p.numel() for p in run.model.parameters())},
    }
    path = out / MANIFEST
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return path


def describe_input(spec: Any) -> dict[str, Any]:
    """What one example is, in words a client of the model (or the server) can follow."""
    units = {"image": f"pixel values 0..{spec.pixel_max} (channels, height, width)",
             "tabular": f"feature values in the training data's units, in this column order: "
                        f"{spec.feature_names}", "text": "token ids of `tokenizer.json`, 0-padded",
             "series": "the last values of the series, oldest first"}
    return {"shape": list(spec.input_shape), "dtype": "int64" if spec.kind == "text" else "float32",
            "batch_axis": 0, "units": units.get(spec.kind, "")}


def load_bundle(path: str | Path, device: str = "cpu") -> Any:
    """A bundle folder -> a gradkit Run (predict, classify, evaluate), from JSON and safetensors only."""
    import gradkit.models
    import gradkit.tasks
    from gradkit import config as C
    from gradkit.data import DataSpec
    from gradkit.predict import Run

    path = Path(path)
    manifest = read_manifest(path)
    raw_spec = dict(manifest["spec"])
    tok = path / TOKENIZER
    raw_spec["tokenizer"] = tok.read_text(encoding="utf-8") if tok.is_file() else None
    spec = DataSpec.from_dict(raw_spec)
    cfg = C.validate(manifest["config"], str(path / MANIFEST))
    weights = path / manifest["weights"]["file"]
    if not weights.is_file() or _sha256(weights) != manifest["weights"]["sha256"]:
        raise CheckpointError(f"{weights} is missing or does not match the SHA-256 in {path / MANIFEST}: "
                              "the bundle is damaged; export it again")
    model = gradkit.models.build(_offline(cfg.model), spec)
    _safetensors().load_model(model, str(weights), strict=True, device=device)
    model.to(device).eval()
    task = gradkit.tasks.build(cfg.task, model, spec)
    return Run(path, cfg, spec, model, task, manifest.get("metrics", {}), torch.device(device))


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


def _check_rebuildable(run: Any) -> None:
    if run.config.model.get("name") == "pretrained" and run.config.model.get("backbone") == "run":
        raise GradkitError("a model whose backbone is another gradkit run cannot be bundled yet (its "
                           "architecture lives in that run); export it with --format onnx instead")


def _safetensors() -> Any:
    try:
        import safetensors.torch
    except ImportError:
        raise GradkitError("bundles store their weights with safetensors: pip install "
                           "'gradkit[export]'") from None
    return safetensors.torch


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
