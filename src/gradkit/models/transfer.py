"""Transfer learning: a pretrained image backbone, a new head sized to the data's classes.

    model: {name: pretrained, backbone: efficientnet_lite0, weights: imagenet,
            freeze: backbone, image_size: 64}
    train: {unfreeze_at_epoch: 4}           # linear probe for 3 epochs, then fine-tune it all
    optim: {backbone_lr_mult: 0.1}          # the backbone learns 10x more slowly than the head

Where backbones and weights come from: models/backbones.py. Freezing: models/freeze.py (a
frozen part trains nothing and keeps its batch-norm statistics; `train.unfreeze_at_epoch`
releases it). Once trainable, the backbone's batch norm still keeps its pretrained running
statistics by default (`bn_stats`): with 900 Fashion-MNIST images, switching it to batch
statistics at unfreezing dropped test accuracy from 0.81 to 0.61 in the next epoch (0.77 after
three), while keeping them took it to 0.83 (measured on 1,000 test images; the Keras transfer
guide gives the same advice). The input adapter turns gradkit's normalised batches into what the backbone was
trained on: pixels back to [0, 1], grey to RGB (or RGB to grey), resized, then normalised with
the backbone's own statistics, so any image data set meets any backbone.
"""
from __future__ import annotations

import re
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field, field_validator
from torch import nn

from gradkit.config import Section
from gradkit.errors import ConfigError
from gradkit.models import backbones, register
from gradkit.models.freeze import Frozen


class PretrainedConfig(Section):
    # efficientnet_lite0 (offline ImageNet weights), a torchvision classification model
    # (resnet18, mobilenet_v3_small, ...), or run (a gradkit run, named by `weights`)
    backbone: str = backbones.LITE0
    # imagenet | none (random init) | a state dict file; backbone=run: a run directory, its
    # checkpoint, or a recipe name (the newest finished run of it under ./runs/)
    weights: str = "imagenet"
    # none | backbone (train the head only, until train.unfreeze_at_epoch) | N-blocks (the
    # backbone's first N blocks: its top-level layers, sequences unpacked one level)
    freeze: str = "none"
    # the backbone's batch norm once it trains: keep (normalise with the pretrained running
    # statistics; scale and shift still learn), update (batch statistics, running ones
    # re-estimated on the new data), auto (keep with pretrained weights, update with none)
    bn_stats: Literal["auto", "keep", "update"] = "auto"
    # inputs resized to N x N; null: the backbone's own size (224 for ImageNet, a run's input size)
    image_size: int | None = Field(None, ge=8)
    dropout: float = Field(0.2, ge=0.0, lt=1.0)  # before the new head

    @field_validator("backbone")
    @classmethod
    def _backbone(cls, value: str) -> str:
        try:
            return backbones.check_name(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("freeze")
    @classmethod
    def _freeze(cls, value: str) -> str:
        if value not in ("none", "backbone") and not re.fullmatch(r"[1-9]\d*-blocks", value):
            raise ValueError("expected none, backbone or N-blocks (the first N blocks, e.g. 4-blocks)")
        return value


BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


class InputAdapter(nn.Module):
    """gradkit's normalised (B, C, H, W) -> the backbone's (B, C', S, S) input."""

    def __init__(self, spec, backbone: backbones.Backbone, size: tuple[int, int]) -> None:
        super().__init__()
        channels = spec.input_shape[0]
        pixel = float(spec.pixel_max)
        mean = spec.mean or [0.0] * channels  # a spec without statistics: inputs are raw pixels
        std = spec.std or [1.0] * channels
        # Derived from the spec and the backbone, not learnt: kept out of the state dict.
        self.register_buffer("data_mean", _column([m / pixel for m in mean]), persistent=False)
        self.register_buffer("data_std", _column([s / pixel for s in std]), persistent=False)
        self.register_buffer("mean", _column(backbone.mean), persistent=False)
        self.register_buffer("std", _column(backbone.std), persistent=False)
        self.channels, self.size = backbone.channels, tuple(size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * self.data_std + self.data_mean  # pixels in [0, 1]
        if x.shape[1] != self.channels:  # grey -> RGB repeats the channel; RGB -> grey averages
            x = x.expand(-1, self.channels, -1, -1) if x.shape[1] == 1 else x.mean(1, keepdim=True)
        if tuple(x.shape[-2:]) != self.size:
            shrink = x.shape[-1] > self.size[1] or x.shape[-2] > self.size[0]
            x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False, antialias=shrink)
        return (x - self.mean) / self.std


def _column(values) -> torch.Tensor:
    return torch.tensor(list(values), dtype=torch.float32).view(1, -1, 1, 1)


def blocks(net: nn.Module) -> list[nn.Module]:
    """The backbone's blocks, input end first: its top-level layers that hold parameters, with
    sequences (a ResNet's layer1, EfficientNet's blocks, torchvision's `features`) unpacked."""
    out = []
    for child in net.children():
        parts = child.children() if isinstance(child, (nn.Sequential, nn.ModuleList)) else [child]
        out += [p for p in parts if any(True for _ in p.parameters())]
    return out


class TransferClassifier(nn.Module):
    """input adapter -> backbone (B, features) -> dropout -> new linear head (B, classes).

    >>> model = TransferClassifier(PretrainedConfig(freeze="backbone", image_size=64), spec)
    >>> model(x).shape  # x: a batch of gradkit's normalised images
    torch.Size([B, spec.num_classes])
    """

    def __init__(self, cfg: PretrainedConfig, spec) -> None:
        super().__init__()
        if spec.kind != "image" or len(spec.input_shape) != 3:
            raise ConfigError(f"model.name=pretrained takes images (C, H, W); this data is {spec.kind} "
                              f"{tuple(spec.input_shape)}; use model.name=mlp")
        found = backbones.load(cfg.backbone, cfg.weights)
        size = (cfg.image_size, cfg.image_size) if cfg.image_size else found.size
        self.adapt = InputAdapter(spec, found, size)
        self.backbone = found.net
        self.source = found.source
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(_feature_width(self.backbone, found.channels, size, cfg), spec.output_dim)
        self.frozen = Frozen(_frozen_part(self.backbone, cfg))
        keep = cfg.bn_stats == "keep" or (cfg.bn_stats == "auto" and cfg.weights != "none")
        self.kept_bn = [m for m in self.backbone.modules() if isinstance(m, BATCH_NORMS)] if keep else []
        self.train()

    def backbone_parameters(self):
        return self.backbone.parameters()

    def unfreeze(self) -> None:
        self.frozen.release()
        self.train(self.training)

    def train(self, mode: bool = True) -> TransferClassifier:
        super().train(mode)
        self.frozen.hold()  # frozen batch norm keeps its statistics, frozen dropout is off
        for bn in self.kept_bn:  # bn_stats=keep: eval mode, whose statistics do not move
            bn.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) normalised -> (B, classes)
        return self.head(self.drop(self.backbone(self.adapt(x))))


def _feature_width(net: nn.Module, channels: int, size: tuple[int, int], cfg) -> int:
    """Features per image, from a dry run that also checks the backbone takes this size."""
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            out = net(torch.zeros(1, channels, *size))
    except RuntimeError as exc:
        hint = ("a gradkit run's network takes its own input size: drop model.image_size"
                if cfg.backbone == backbones.RUN else "use a larger model.image_size")
        raise ConfigError(f"backbone {cfg.backbone} cannot take {channels}x{size[0]}x{size[1]} "
                          f"inputs ({str(exc).splitlines()[0]}); {hint}") from None
    finally:
        net.train(was_training)
    if out.dim() != 2:
        raise ConfigError(f"backbone {cfg.backbone} gives {tuple(out.shape)} features per batch, "
                          "not (batch, features); it is not a classification network")
    return out.shape[1]


def _frozen_part(net: nn.Module, cfg: PretrainedConfig) -> list[nn.Module]:
    if cfg.freeze == "none":
        return []
    if cfg.freeze == "backbone":
        return [net]
    n, parts = int(cfg.freeze.split("-")[0]), blocks(net)
    if n > len(parts):
        raise ConfigError(f"model.freeze={cfg.freeze}, but backbone {cfg.backbone} has {len(parts)} "
                          f"blocks; use at most {len(parts)}-blocks, or model.freeze=backbone")
    return parts[:n]


def _build(cfg: PretrainedConfig, spec) -> TransferClassifier:
    return TransferClassifier(cfg, spec)


register("pretrained", PretrainedConfig, "a pretrained image backbone (ImageNet EfficientNet-Lite0 "
         "offline, torchvision models, or a gradkit run) with a new head: transfer learning")(_build)
