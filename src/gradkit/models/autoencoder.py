"""Autoencoders: an encoder to a latent code and a decoder back, MLP or convolutional.

Inputs are images with pixels in [0, 1], (B, C, H, W) (generative tasks see their data that
way: `gradkit.data.build`). The decoder ends in logits; `decode` applies the sigmoid. The
encoder/decoder builders here are shared with `models/vae.py`.

The articles' MLP autoencoder is the default: 784-256-64 and back, 64-256-784.
"""
from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import Field
from torch import nn

from gradkit.config import Section, Widths
from gradkit.errors import ConfigError
from gradkit.models import register
from gradkit.models.layers import Activation, activation


class AutoencoderConfig(Section):
    arch: Literal["mlp", "conv"] = "mlp"  # dense layers, or stride-2 convolutions
    hidden: Widths = [256]  # mlp: encoder hidden widths (the decoder mirrors them)
    channels: Widths = [32, 64]  # conv: stride-2 conv blocks, each halves H and W
    latent: int = Field(64, ge=1)  # size of the code z
    activation: Activation = "relu"  # after every hidden layer


def check_conv_shape(input_shape: tuple[int, ...], blocks: int, model: str = "model.arch=conv") -> None:
    """A conv encoder/decoder needs (C, H, W) with H and W divisible by 2**blocks."""
    if len(input_shape) != 3:
        raise ConfigError(f"{model} needs image data (C, H, W); this data has shape "
                          f"{tuple(input_shape)}; use model.arch=mlp")
    factor = 2 ** blocks
    if input_shape[1] % factor or input_shape[2] % factor:
        raise ConfigError(f"{model} with {blocks} stride-2 blocks needs H and W divisible by "
                          f"{factor}; this data is {input_shape[1]}x{input_shape[2]}: use "
                          "fewer model.channels or model.arch=mlp")


def encoder(input_shape: tuple[int, ...], out: int, cfg: AutoencoderConfig) -> nn.Sequential:
    """(B, *input_shape) -> (B, out)."""
    if cfg.arch == "mlp":
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(input_shape)
        for hidden in cfg.hidden:
            layers += [nn.Linear(width, hidden), activation(cfg.activation)]
            width = hidden
        return nn.Sequential(*layers, nn.Linear(width, out))
    check_conv_shape(input_shape, len(cfg.channels))
    layers, width = [], input_shape[0]
    for channels in cfg.channels:  # (B, c, H, W) -> (B, c', H/2, W/2)
        layers += [nn.Conv2d(width, channels, 4, stride=2, padding=1), activation(cfg.activation)]
        width = channels
    factor = 2 ** len(cfg.channels)
    flat = width * (input_shape[1] // factor) * (input_shape[2] // factor)
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(flat, out))


def decoder(input_shape: tuple[int, ...], latent: int, cfg: AutoencoderConfig) -> nn.Sequential:
    """(B, latent) -> logits (B, *input_shape); the mirror image of `encoder`."""
    if cfg.arch == "mlp":
        layers: list[nn.Module] = []
        width = latent
        for hidden in reversed(cfg.hidden):
            layers += [nn.Linear(width, hidden), activation(cfg.activation)]
            width = hidden
        return nn.Sequential(*layers, nn.Linear(width, math.prod(input_shape)),
                             nn.Unflatten(1, tuple(input_shape)))
    factor = 2 ** len(cfg.channels)
    small = (cfg.channels[-1], input_shape[1] // factor, input_shape[2] // factor)
    layers = [nn.Linear(latent, math.prod(small)), activation(cfg.activation), nn.Unflatten(1, small)]
    widths = list(reversed(cfg.channels)) + [input_shape[0]]
    for i, (c_in, c_out) in enumerate(zip(widths, widths[1:])):  # doubles H and W
        layers.append(nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1))
        if i < len(widths) - 2:
            layers.append(activation(cfg.activation))
    return nn.Sequential(*layers)


class Autoencoder(nn.Module):
    """x in [0, 1] -> code z -> reconstruction logits.

    >>> ae = Autoencoder((1, 28, 28), AutoencoderConfig())
    >>> ae.encode(torch.rand(2, 1, 28, 28)).shape, ae(torch.rand(2, 1, 28, 28)).shape
    (torch.Size([2, 64]), torch.Size([2, 1, 28, 28]))
    """

    def __init__(self, input_shape: tuple[int, ...], cfg: AutoencoderConfig) -> None:
        super().__init__()
        self.latent = cfg.latent
        self.encoder = encoder(input_shape, cfg.latent, cfg)
        self.decoder = decoder(input_shape, cfg.latent, cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) in [0, 1] -> logits
        return self.decoder(self.encoder(x))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] (N, C, H, W) -> codes (N, latent)."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Codes (N, latent) -> images in [0, 1] (N, C, H, W)."""
        return torch.sigmoid(self.decoder(z).float())

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] -> their reconstructions in [0, 1], same shape."""
        return self.decode(self.encode(x))


def _build(cfg: AutoencoderConfig, spec) -> Autoencoder:
    return Autoencoder(tuple(spec.input_shape), cfg)


register("autoencoder", AutoencoderConfig,
         "encoder to a latent code and back, mlp (the articles' 784-256-64) or conv")(_build)
