"""A small residual network (He et al. 2016, the CIFAR variant): basic blocks in stages."""
from __future__ import annotations

from pydantic import Field
from torch import nn

from gradkit.config import Section, Widths
from gradkit.models import register


class ResNetConfig(Section):
    widths: Widths = [16, 32, 64]  # channels per stage; each later stage halves H and W
    blocks: int = Field(2, ge=1)  # basic blocks per stage
    dropout: float = Field(0.0, ge=0.0, lt=1.0)  # before the head


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN plus a (projected) shortcut, then ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out),
        )
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                          nn.BatchNorm2d(c_out))
        self.relu = nn.ReLU()

    def forward(self, x):  # (B, C_in, H, W) -> (B, C_out, H/stride, W/stride)
        return self.relu(self.body(x) + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, in_channels: int, out_features: int, cfg: ResNetConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, cfg.widths[0], 3, 1, 1, bias=False),
                                   nn.BatchNorm2d(cfg.widths[0]), nn.ReLU()]
        width = cfg.widths[0]
        for stage, out in enumerate(cfg.widths):
            for block in range(cfg.blocks):
                layers.append(BasicBlock(width, out, 2 if stage > 0 and block == 0 else 1))
                width = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(cfg.dropout),
                                  nn.Linear(width, out_features))

    def forward(self, x):  # (B, C, H, W) -> (B, out_features)
        return self.head(self.features(x))


def _build(cfg: ResNetConfig, spec) -> ResNet:
    if len(spec.input_shape) != 3:
        from gradkit.errors import ConfigError

        raise ConfigError("model.name=resnet needs image data; use model.name=mlp for rows")
    return ResNet(spec.input_shape[0], spec.output_dim, cfg)


register("resnet", ResNetConfig, "small residual network (CIFAR-style basic blocks)")(_build)
