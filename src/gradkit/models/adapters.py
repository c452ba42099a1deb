"""A user's own module for a generative task, given the interface gradkit's tasks and artifacts
use (the one gradkit's own autoencoder, VAE and GAN have). What each task asks of the module:

    reconstruct  module(x) -> the reconstruction of x (B, C, H, W): in [0, 1] (ending in a
                 sigmoid) or logits. `encoder` and `decoder` attributes, when it has them,
                 give the report its latent space and interpolations.
    vae          module(x) -> (reconstruction logits (B, C, H, W), mu, logvar (B, latent)), z
                 drawn inside; a `decoder` attribute (or `decode` method) lets it sample.
    gan          a module with `generator` (noise (B, noise_dim) -> images in [-1, 1] with tanh,
                 or [0, 1] with a sigmoid) and `discriminator` (images -> (B, 1), logits or
                 probabilities) attributes, or the pair: gk.fit((G, D), x, task="gan").
                 noise_dim: the attribute `noise_dim` (or latent_dim, nz, z_dim), else the
                 generator's first layer's input width; a convolutional generator gets (B, nz, 1, 1).

`around(module, probe)` reads what it needs off one forward pass of `probe` (normalised
examples) and returns the adapter with plain `settings`, which run.json keeps so `gk.load` can
wrap the rebuilt module the same way (`ADAPTERS[name](module, **settings)`).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gradkit.errors import ConfigError
from gradkit.models.gan import Generating

NOISE_NAMES = ("noise_dim", "latent_dim", "nz", "z_dim", "latent")


def same_storage(a: Any, b: Any) -> bool:
    """Whether two tensors are views of one storage (a reshape after a sigmoid is still it)."""
    return (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)
            and a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr())


def ends_in(module: nn.Module, x: torch.Tensor, kinds: tuple[type, ...] = (nn.Sigmoid,)) -> bool:
    """Whether module(x)'s output (or its first element) is the output of a `kinds` layer, or a
    view of it (nn.Unflatten after the sigmoid)."""
    seen: list[Any] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: seen.append(out))
             for m in module.modules() if isinstance(m, kinds)]
    try:
        with torch.no_grad():
            out = module(x)
    finally:
        for h in hooks:
            h.remove()
    out = out[0] if isinstance(out, (tuple, list)) else out
    return any(same_storage(o, out) for o in seen)


def _unit(out: torch.Tensor, probabilities: bool) -> torch.Tensor:
    """Outputs -> [0, 1]: probabilities as they are, logits through a sigmoid."""
    return out.float() if probabilities else torch.sigmoid(out.float())


def _logits(out: torch.Tensor, probabilities: bool) -> torch.Tensor:
    return torch.logit(out.float().clamp(1e-6, 1 - 1e-6)) if probabilities else out


class Reconstructor(nn.Module):
    """A user's autoencoder as gradkit's: forward gives logits, `reconstruct` [0, 1] images."""

    name = "reconstruct"

    def __init__(self, inner: nn.Module, probabilities: bool = True) -> None:
        super().__init__()
        self.inner, self.probabilities = inner, probabilities
        self.settings = {"probabilities": probabilities}

    @classmethod
    def around(cls, module: nn.Module, probe: torch.Tensor) -> nn.Module:
        if callable(getattr(module, "reconstruct", None)):
            return module  # gradkit's own interface already
        with torch.no_grad():
            out = module(probe)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != tuple(probe.shape):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ConfigError(f"an autoencoder module returns the reconstruction of its input, "
                              f"{tuple(probe.shape)}; yours returns {shape}")
        return cls(module, ends_in(module, probe))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _logits(self.inner(x), self.probabilities)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return _unit(self.inner(x), self.probabilities)

    def __getattr__(self, name: str) -> Any:
        if name in ("encode", "decode") and all(hasattr(self.inner, p) for p in ("encoder", "decoder")):
            return self._encode if name == "encode" else self._decode
        return super().__getattr__(name)

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner.encoder(x).flatten(1)

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        return _unit(self.inner.decoder(z), self.probabilities)


class VariationalAutoencoder(nn.Module):
    """A user's VAE as gradkit's (a Bernoulli likelihood on [0, 1] pixels)."""

    name = "vae"
    likelihood = "bernoulli"

    def __init__(self, inner: nn.Module, latent: int) -> None:
        super().__init__()
        self.inner, self.latent = inner, latent
        self.settings = {"latent": latent}

    @classmethod
    def around(cls, module: nn.Module, probe: torch.Tensor) -> nn.Module:
        if callable(getattr(module, "posterior", None)):
            return module
        with torch.no_grad():
            out = module(probe)
        if not (isinstance(out, (tuple, list)) and len(out) == 3 and out[1].shape == out[2].shape
                and out[1].dim() == 2 and tuple(out[0].shape) == tuple(probe.shape)):
            shapes = [tuple(o.shape) for o in out] if isinstance(out, (tuple, list)) else tuple(out.shape)
            raise ConfigError(f"a VAE module returns (reconstruction logits {tuple(probe.shape)}, "
                              f"mu (batch, latent), logvar (batch, latent)); yours returns {shapes}")
        return cls(module, int(out[1].shape[1]))

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None):
        logits, mu, logvar = self.inner(x)
        return logits, mu.float(), logvar.float()

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _, mu, logvar = self.inner(x)
        return mu.float(), logvar.float()

    def log_likelihood(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return -F.binary_cross_entropy_with_logits(logits.float(), x, reduction="none").flatten(1).sum(1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.posterior(x)[0]

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.inner(x)[0].float())

    def __getattr__(self, name: str) -> Any:
        decoder = self._decoder()
        if name in ("decode", "sample") and decoder is not None:
            return self._decode if name == "decode" else self._sample
        return super().__getattr__(name)

    def _decoder(self) -> Any:
        inner = self._modules["inner"]
        return getattr(inner, "decode", None) or getattr(inner, "decoder", None)

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self._decoder()(z).float())

    def _sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent, generator=generator,
                        device=generator.device if generator else device).to(device)
        return self._decode(z)


class Pair(nn.Module):
    """`gk.fit((G, D), x, task="gan")`: the two networks as one module."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module) -> None:
        super().__init__()
        self.generator, self.discriminator = generator, discriminator


class Adversarial(Generating):
    """A user's GAN as gradkit's: `generator(z)` in [-1, 1], `discriminator(x)` logits (B, 1)."""

    name = "gan"

    def __init__(self, inner: nn.Module, noise_dim: int, spatial: bool = False,
                 unit_images: bool = False, probabilities: bool = False) -> None:
        super().__init__()
        self.noise_dim = noise_dim  # `inner` itself is not kept: its two networks are, wrapped
        self.settings = {"noise_dim": noise_dim, "spatial": spatial, "unit_images": unit_images,
                         "probabilities": probabilities}
        self.generator = _Generator(inner.generator, spatial, unit_images)
        self.discriminator = _Discriminator(inner.discriminator, probabilities)

    @classmethod
    def around(cls, module: nn.Module, probe: torch.Tensor) -> nn.Module:
        if callable(getattr(module, "sample", None)) and hasattr(module, "noise_dim"):
            return module
        if not (hasattr(module, "generator") and hasattr(module, "discriminator")):
            raise ConfigError("a GAN module has `generator` and `discriminator` attributes; or "
                              "pass the pair: gk.fit((G, D), x, task=\"gan\")")
        g = module.generator
        first = next((m for m in g.modules() if isinstance(m, (nn.Linear, nn.ConvTranspose2d,
                                                                 nn.Conv2d, nn.LazyLinear))), None)
        noise = next((getattr(o, n) for o in (module, g) for n in NOISE_NAMES
                      if isinstance(getattr(o, n, None), int)), None)
        if noise is None and isinstance(first, nn.Linear):
            noise = first.in_features
        if noise is None and isinstance(first, (nn.ConvTranspose2d, nn.Conv2d)):
            noise = first.in_channels
        if noise is None:
            raise ConfigError("gradkit cannot tell your generator's noise width: give the module (or "
                              "its generator) an attribute noise_dim")
        spatial = isinstance(first, (nn.ConvTranspose2d, nn.Conv2d))
        z = torch.randn(len(probe), noise).view(len(probe), noise, *((1, 1) if spatial else ()))
        z = z.to(probe.device)
        unit = ends_in(g, z)
        with torch.no_grad():
            fake = g(z)
        if tuple(fake.shape) != tuple(probe.shape):
            raise ConfigError(f"your generator makes {tuple(fake.shape)} from noise {tuple(z.shape)}; "
                              f"the data's images are {tuple(probe.shape)}")
        probs = ends_in(module.discriminator, probe)
        return cls(module, noise, spatial, unit, probs)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator(z)


class _Generator(nn.Module):
    def __init__(self, net: nn.Module, spatial: bool, unit_images: bool) -> None:
        super().__init__()
        self.net, self.spatial, self.unit_images = net, spatial, unit_images

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.net(z.view(*z.shape, 1, 1) if self.spatial else z)
        return out * 2 - 1 if self.unit_images else out  # gradkit's GAN task works in [-1, 1]


class _Discriminator(nn.Module):
    def __init__(self, net: nn.Module, probabilities: bool) -> None:
        super().__init__()
        self.net, self.probabilities = net, probabilities

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x).reshape(len(x), 1)
        return _logits(out, self.probabilities)


ADAPTERS = {"reconstruct": Reconstructor, "vae": VariationalAutoencoder, "gan": Adversarial}
