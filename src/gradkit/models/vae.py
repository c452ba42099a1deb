"""Variational autoencoder (Kingma & Welling 2014, arXiv:1312.6114), MLP or convolutional.

The encoder gives the Gaussian posterior q(z|x) = N(mu, exp(logvar)); the decoder gives the
likelihood p(x|z): Bernoulli with logits (for binarised pixels) or Gaussian with mean
sigmoid(logits) and one learnt standard deviation for every pixel. The prior is N(0, I).
The loss lives in `tasks/vae.py`; `log_likelihood` and `kl_divergence` here are its parts.
"""
from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from gradkit.config import Widths
from gradkit.models import register
from gradkit.models.autoencoder import AutoencoderConfig, decoder, encoder


class VAEConfig(AutoencoderConfig):
    hidden: Widths = [400]  # Kingma & Welling's MNIST VAE: 400 hidden units, 20 latents
    latent: int = Field(20, ge=1)  # size of the code z
    likelihood: Literal["bernoulli", "gaussian"] = "bernoulli"  # p(x|z) per pixel: Bernoulli (binary cross-entropy), or Gaussian with one learnt sigma


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per example, in nats: (B, D) -> (B,)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)


class VAE(nn.Module):
    """x in [0, 1] -> q(z|x) -> z -> p(x|z).

    >>> vae = VAE((1, 28, 28), VAEConfig())
    >>> logits, mu, logvar = vae(torch.rand(2, 1, 28, 28))
    >>> logits.shape, mu.shape, vae.sample(3).shape
    (torch.Size([2, 1, 28, 28]), torch.Size([2, 20]), torch.Size([3, 1, 28, 28]))
    """

    def __init__(self, input_shape: tuple[int, ...], cfg: VAEConfig) -> None:
        super().__init__()
        self.latent = cfg.latent
        self.likelihood = cfg.likelihood
        self.encoder = encoder(input_shape, 2 * cfg.latent, cfg)  # -> (mu, logvar)
        self.decoder = decoder(input_shape, cfg.latent, cfg)
        if cfg.likelihood == "gaussian":  # log sigma of p(x|z), shared by every pixel, learnt;
            # it starts at a tenth of the pixel range (sigma = 1 would take an epoch to unlearn)
            self.log_sigma = nn.Parameter(torch.tensor(math.log(0.1)))

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) of q(z|x), each (N, latent), in fp32."""
        mu, logvar = self.encoder(x).float().chunk(2, dim=1)
        return mu, logvar

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(decoder logits (B, C, H, W), mu, logvar) with z drawn by reparameterisation."""
        mu, logvar = self.posterior(x)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device)
        z = mu + eps * (0.5 * logvar).exp()
        return self.decoder(z), mu, logvar

    def log_likelihood(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x|z) per example, in nats: (B, C, H, W) logits and targets -> (B,)."""
        logits = logits.float()
        if self.likelihood == "bernoulli":
            return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
        mean, log_sigma = torch.sigmoid(logits), self.log_sigma
        per_pixel = -0.5 * ((x - mean) / log_sigma.exp()).pow(2) - log_sigma - 0.5 * math.log(2 * math.pi)
        return per_pixel.flatten(1).sum(1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] (N, C, H, W) -> posterior means (N, latent)."""
        return self.posterior(x)[0]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Codes (N, latent) -> the mean of p(x|z), images in [0, 1] (N, C, H, W)."""
        return torch.sigmoid(self.decoder(z).float())

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] -> decode(posterior mean), same shape."""
        return self.decode(self.encode(x))

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n images in [0, 1] (n, C, H, W): decoded z ~ N(0, I) (the mean of p(x|z), not a draw)."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent, generator=generator, device=generator.device if generator
                        else device).to(device)
        return self.decode(z)


def _build(cfg: VAEConfig, spec) -> VAE:
    return VAE(tuple(spec.input_shape), cfg)


register("vae", VAEConfig, "variational autoencoder, mlp or conv, Bernoulli or Gaussian pixels")(_build)
