"""Generative adversarial networks (Goodfellow et al. 2014, arXiv:1406.2661): a generator and a
discriminator held by one module, so a run's checkpoint has one model entry ("model").

`arch: mlp` is the articles' pair: generator 100-256-784 (ReLU, tanh output), discriminator
784-256-1 (LeakyReLU 0.2) ending in a logit (the sigmoid sits inside BCE-with-logits).
`arch: dcgan` is a small DCGAN pair (Radford et al. 2016, arXiv:1511.06434) for images whose
sides divide by 4: two stride-2 (transposed) convolutions, batch norm, LeakyReLU in D.

The generator writes images in [-1, 1]; the discriminator reads [-1, 1]. `sample` and
`decode` return [0, 1], like every other generative model here.
"""
from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import Field
from torch import nn

from gradkit.config import Section
from gradkit.models import register
from gradkit.models.autoencoder import check_conv_shape


class GANConfig(Section):
    arch: Literal["mlp", "dcgan"] = "mlp"  # the articles' MLP GAN, or a small DCGAN
    noise_dim: int = Field(100, ge=1)  # size of the generator's input z ~ N(0, I)
    hidden: int = Field(256, ge=1)  # mlp: the one hidden layer of each network
    channels: int = Field(32, ge=1)  # dcgan: D's first conv width (then 2x); G mirrors it


def _mlp_pair(shape: tuple[int, ...], cfg: GANConfig) -> tuple[nn.Module, nn.Module]:
    pixels = math.prod(shape)
    generator = nn.Sequential(nn.Linear(cfg.noise_dim, cfg.hidden), nn.ReLU(),
                              nn.Linear(cfg.hidden, pixels), nn.Tanh(), nn.Unflatten(1, shape))
    discriminator = nn.Sequential(nn.Flatten(), nn.Linear(pixels, cfg.hidden), nn.LeakyReLU(0.2),
                                  nn.Linear(cfg.hidden, 1))
    return generator, discriminator


def _dcgan_pair(shape: tuple[int, ...], cfg: GANConfig) -> tuple[nn.Module, nn.Module]:
    check_conv_shape(shape, 2, "model.arch=dcgan")
    c, small = cfg.channels, (2 * cfg.channels, shape[1] // 4, shape[2] // 4)
    generator = nn.Sequential(  # z (B, noise) -> (B, 2c, H/4, W/4) -> (B, c, H/2, W/2) -> (B, C, H, W)
        nn.Linear(cfg.noise_dim, math.prod(small), bias=False), nn.BatchNorm1d(math.prod(small)),
        nn.ReLU(), nn.Unflatten(1, small),
        nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
        nn.ConvTranspose2d(c, shape[0], 4, stride=2, padding=1), nn.Tanh())
    discriminator = nn.Sequential(  # (B, C, H, W) -> (B, c, H/2, W/2) -> (B, 2c, H/4, W/4) -> (B, 1)
        nn.Conv2d(shape[0], c, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.Conv2d(c, 2 * c, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(2 * c),
        nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(math.prod(small), 1))
    return generator, discriminator


class Generating(nn.Module):
    """What every GAN gradkit trains offers (abstract): `generator(z)` -> images in [-1, 1],
    `discriminator(images)` -> logits (B, 1), `noise_dim`; and from those, noise, decoding and
    samples. Final subclasses: `GAN` (built from a config) and a user's pair wrapped for the task
    (gradkit.models.adapters.Adversarial)."""

    noise_dim: int

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ N(0, I), (n, noise_dim), on the model's device."""
        device = next(self.parameters()).device
        return torch.randn(n, self.noise_dim, generator=generator,
                           device=generator.device if generator else device).to(device)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Noise (N, noise_dim) -> images in [0, 1] (N, C, H, W)."""
        return (self.generator(z).float() + 1) / 2

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n images in [0, 1] (n, C, H, W); call in eval mode (batch norm)."""
        return self.decode(self.noise(n, generator))


class GAN(Generating):
    """`generator(z)` -> images in [-1, 1]; `discriminator(images)` -> logits (B, 1).

    >>> gan = GAN((1, 28, 28), GANConfig())
    >>> gan.sample(4).shape, gan.discriminator(gan(torch.randn(4, 100))).shape
    (torch.Size([4, 1, 28, 28]), torch.Size([4, 1]))
    """

    def __init__(self, input_shape: tuple[int, ...], cfg: GANConfig) -> None:
        super().__init__()
        self.noise_dim = cfg.noise_dim
        pair = _mlp_pair if cfg.arch == "mlp" else _dcgan_pair
        self.generator, self.discriminator = pair(tuple(input_shape), cfg)

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # (B, noise_dim) -> (B, C, H, W) in [-1, 1]
        return self.generator(z)



def _build(cfg: GANConfig, spec) -> GAN:
    return GAN(tuple(spec.input_shape), cfg)


register("gan", GANConfig, "generator + discriminator: mlp (the articles' 100-256-784) or dcgan")(_build)
