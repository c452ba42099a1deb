"""The part of a policy or Q-network that reads observations: an MLP's input for flat vectors, a
convolutional torso for images, chosen by `rl.torso` (auto: by the observation space).

- `nature`: the Nature-DQN torso (Mnih et al. 2015) for 84x84 Atari frames: conv 32 8x8/4,
  conv 64 4x4/2, conv 64 3x3/1, then the `rl.hidden` layers (512 in the Atari recipes).
- `minatar`: the MinAtar paper's torso (Young & Tian 2019) for 10x10xC grids: one conv 16 3x3/1,
  then the `rl.hidden` layers (128 in the MinAtar recipes).
`rl.channels` overrides the convolutions' widths. Pixels arrive as the env gives them (uint8
0-255 or bool) and are scaled to [0, 1] inside the torso, so buffers keep the compact dtype.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from gradkit.errors import ConfigError

# per torso: (out_channels, kernel, stride) of each convolution
CONVS = {"nature": ((32, 8, 4), (64, 4, 2), (64, 3, 1)), "minatar": ((16, 3, 1),)}


def pick(torso: str, spec: dict[str, Any]) -> str:
    """The torso `rl.torso` asks for, with `auto` resolved from the observation space."""
    if torso != "auto":
        return torso
    if not spec.get("image"):
        return "mlp"
    h, w = image_size(spec)
    return "nature" if min(h, w) >= 36 else "minatar"


def image_size(spec: dict[str, Any]) -> tuple[int, int]:
    shape, layout = spec["obs_shape"], spec["image"]
    return (shape[1], shape[2]) if layout == "chw" else (shape[0], shape[1])


class ImageTorso(nn.Module):
    """Observations (N, *obs_shape) as the env gives them -> features (N, width)."""

    def __init__(self, spec: dict[str, Any], kind: str, channels: list[int] | None,
                 hidden: list[int]) -> None:
        super().__init__()
        self.layout = spec["image"]
        self.scale = 1 / 255 if spec["obs_dtype"] == "uint8" else 1.0
        shape = spec["obs_shape"]
        in_ch = self._channels(shape)
        convs = CONVS[kind]
        if channels is not None:
            if len(channels) != len(convs):
                raise ConfigError(f"rl.channels: the {kind} torso has {len(convs)} convolutions, "
                                  f"got {len(channels)} widths ({channels})")
            convs = tuple((c, k, st) for c, (_, k, st) in zip(channels, convs))
        layers: list[nn.Module] = []
        for out_ch, kernel, stride in convs:
            conv = nn.Conv2d(in_ch, out_ch, kernel, stride)
            nn.init.orthogonal_(conv.weight, np.sqrt(2))
            nn.init.zeros_(conv.bias)
            layers += [conv, nn.ReLU()]
            in_ch = out_ch
        layers.append(nn.Flatten())
        self.convs = nn.Sequential(*layers)
        h, w = image_size(spec)
        with torch.no_grad():
            flat = self.convs(torch.zeros(1, self._channels(shape), h, w)).shape[1]
        if flat == 0:
            raise ConfigError(f"rl.torso={kind}: its convolutions leave nothing of a {h}x{w} "
                              "observation; use rl.torso=minatar for small grids")
        fc: list[nn.Module] = []
        for width in hidden:
            linear = nn.Linear(flat, width)
            nn.init.orthogonal_(linear.weight, np.sqrt(2))
            nn.init.zeros_(linear.bias)
            fc += [linear, nn.ReLU()]
            flat = width
        self.fc = nn.Sequential(*fc)
        self.width = flat

    def _channels(self, shape: tuple[int, ...]) -> int:
        return 1 if self.layout == "hw" else (shape[0] if self.layout == "chw" else shape[2])

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs.float()
        if self.layout == "hwc":
            x = x.permute(0, 3, 1, 2)
        elif self.layout == "hw":
            x = x.unsqueeze(1)
        if self.scale != 1.0:
            x = x * self.scale
        return self.fc(self.convs(x))


def image_torso(rl: Any, spec: dict[str, Any]) -> ImageTorso | None:
    """The convolutional torso `rl` and the env call for, or None for an MLP (on flat vectors,
    or on images flattened: `flat_input`)."""
    kind = pick(rl.torso, spec)
    if kind == "mlp":
        return None
    return ImageTorso(spec, kind, rl.channels, list(rl.hidden))


def flat_input(spec: dict[str, Any]) -> list[nn.Module]:
    """What an MLP needs in front of it: nothing for flat vectors, a Flatten for images (scaled
    to [0, 1] like the convolutional torsos' input)."""
    if len(spec.get("obs_shape", (1,))) == 1:
        return []
    return [Scale(1 / 255 if spec["obs_dtype"] == "uint8" else 1.0), nn.Flatten()]


class Scale(nn.Module):
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.float() * self.factor


def check(rl: Any, spec: dict[str, Any], source: str) -> None:
    """Torso choices the env cannot take, said before anything is built."""
    kind = pick(rl.torso, spec)
    if kind != "mlp" and not spec.get("image"):
        raise ConfigError(f"invalid config ({source}): rl.torso={kind} reads images, but "
                          f"{rl.env} gives flat vectors of {spec['obs_dim']}; use rl.torso=auto or mlp")
    if rl.channels is not None and kind == "mlp":
        raise ConfigError(f"invalid config ({source}): rl.channels sets the convolutions of an image "
                          f"torso; {rl.env} gets an MLP (rl.torso={rl.torso})")
    if spec.get("image") and rl.normalize_obs:
        raise ConfigError(f"invalid config ({source}): rl.normalize_obs applies to flat vectors; "
                          f"{rl.env}'s images are scaled to [0, 1] by the torso: drop it")
