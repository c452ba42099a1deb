"""Convolutional networks: blocks of conv -> (batch norm) -> activation, pooling, a dense head."""
from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn

from gradkit.config import Section, Widths
from gradkit.models import register
from gradkit.models.layers import Activation, activation


class CNNConfig(Section):
    channels: Widths = [32, 64]  # output channels of each conv block
    convs_per_block: int = Field(1, ge=1)  # conv layers in each block, before its pooling
    kernel_size: int = Field(3, ge=1)  # square kernels of this size
    padding: Literal["same", "valid"] = "same"  # same: keep H and W; valid: no padding
    pool: Literal["max", "avg", "none"] = "max"  # 2x2 pooling after each block
    pool_last: bool = True  # pool after the last block too
    # the blocks (1 = the first) followed by pooling; None: every block (the last one as
    # pool_last says). [2] is the PyTorch article's conv-conv-pool
    pool_after: list[int] | None = None
    global_pool: bool = False  # average over space before the head instead of flattening
    batch_norm: bool = True  # batch norm after each conv
    activation: Activation = "relu"  # after each conv and dense layer
    hidden: Widths = [128]  # dense layers of the head
    dropout: float = Field(0.0, ge=0.0, lt=1.0)  # before each dense layer of the head


class CNNModelConfig(CNNConfig):
    """The PyTorch article's CNNModel: Conv2d(1,32,3)-ReLU-Conv2d(32,64,3)-ReLU-MaxPool(2)-
    Linear(64*12*12,128)-ReLU-Linear(128,10); no padding, no batch norm (1,199,882 parameters
    on 28x28 digits)."""

    padding: Literal["same", "valid"] = "valid"
    pool_after: list[int] | None = [2]
    batch_norm: bool = False


class SimpleCNNConfig(CNNConfig):
    """The PyTorch article's SimpleCNN: Conv2d(1,32,3)-ReLU-MaxPool(2)-Linear(32*13*13,10)."""

    channels: Widths = [32]
    padding: Literal["same", "valid"] = "valid"
    batch_norm: bool = False
    hidden: Widths = []


class KerasCifarConfig(CNNConfig):
    """The Keras CIFAR-10 article: Conv32-Pool-Conv64-Pool-Conv64-Dense64-Dense10 (valid padding)."""

    channels: Widths = [32, 64, 64]
    padding: Literal["same", "valid"] = "valid"
    pool_last: bool = False
    batch_norm: bool = False
    hidden: Widths = [64]


class CNN(nn.Module):
    """Conv blocks then a dense head; the head's input size is found by a dry run.

    >>> CNN((1, 28, 28), 10, CNNConfig())(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """

    def __init__(self, input_shape: tuple[int, ...], out_features: int, cfg: CNNConfig) -> None:
        super().__init__()
        if len(input_shape) != 3:
            from gradkit.errors import ConfigError

            raise ConfigError(f"a CNN needs image data (C, H, W); this data has shape {input_shape}; "
                              "use model.name=mlp")
        pools = set(cfg.pool_after) if cfg.pool_after is not None else None
        if pools and not pools <= set(range(1, len(cfg.channels) + 1)):
            from gradkit.errors import ConfigError

            raise ConfigError(f"model.pool_after={cfg.pool_after}: blocks are numbered 1 to "
                              f"{len(cfg.channels)} (one per model.channels entry)")
        layers: list[nn.Module] = []
        width = input_shape[0]
        pad = cfg.kernel_size // 2 if cfg.padding == "same" else 0
        for i, out in enumerate(cfg.channels):
            for _ in range(cfg.convs_per_block):
                layers.append(nn.Conv2d(width, out, cfg.kernel_size, padding=pad, bias=not cfg.batch_norm))
                if cfg.batch_norm:
                    layers.append(nn.BatchNorm2d(out))
                layers.append(activation(cfg.activation))
                width = out
            pooled = (i + 1 in pools) if pools is not None else (cfg.pool_last or i < len(cfg.channels) - 1)
            if cfg.pool != "none" and pooled:
                layers.append(nn.MaxPool2d(2) if cfg.pool == "max" else nn.AvgPool2d(2))
        self.features = nn.Sequential(*layers)
        with torch.no_grad():
            shape = self.features(torch.zeros(1, *input_shape)).shape  # (1, C', H', W')
        if min(shape[2:]) < 1:
            from gradkit.errors import ConfigError

            raise ConfigError(f"model: {len(cfg.channels)} blocks shrink a {input_shape[1:]} image to "
                              "nothing; use fewer model.channels or model.padding=same")
        head: list[nn.Module] = [nn.AdaptiveAvgPool2d(1), nn.Flatten()] if cfg.global_pool else [nn.Flatten()]
        width = shape[1] if cfg.global_pool else shape[1] * shape[2] * shape[3]
        for hidden in cfg.hidden:
            if cfg.dropout:
                head.append(nn.Dropout(cfg.dropout))
            head += [nn.Linear(width, hidden), activation(cfg.activation)]
            width = hidden
        if cfg.dropout:
            head.append(nn.Dropout(cfg.dropout))
        head.append(nn.Linear(width, out_features))
        self.head = nn.Sequential(*head)

    def forward(self, x):  # (B, C, H, W) -> (B, out_features)
        return self.head(self.features(x))


def _build(cfg: CNNConfig, spec) -> CNN:
    return CNN(tuple(spec.input_shape), spec.output_dim, cfg)


register("cnn", CNNConfig, "conv blocks (batch norm, pooling) and a dense head")(_build)
register("cnn-model", CNNModelConfig, "PyTorch article's CNNModel: conv32-conv64-pool-fc128")(_build)
register("simple-cnn", SimpleCNNConfig, "PyTorch article's SimpleCNN: conv32-pool-fc10")(_build)
register("keras-cifar-cnn", KerasCifarConfig, "Keras CIFAR-10 stack Conv32-Pool-Conv64-Pool-Conv64-Dense64")(_build)
