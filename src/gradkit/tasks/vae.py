"""The VAE task: minimise the negative ELBO, -E_q[log p(x|z)] + beta * KL(q(z|x) || p(z)).

Figures are in nats per image (summed over pixels, averaged over images): `nelbo` (always
with beta = 1, a bound on -log p(x)), its parts `rec` (-E_q log p(x|z), one z per image) and
`kl`, and `loss` (rec + beta * kl, what is minimised).

Bernoulli likelihood: pixels in [0, 1] are binarised, x ~ Bernoulli(pixel). Training draws a
new binarisation every batch (dynamic binarisation); evaluation uses one fixed, seeded
binarisation and one seeded z per image, so val/test figures are comparable between epochs
and runs. Gaussian likelihood: the [0, 1] pixels as they are (densities, so figures are not
comparable with the Bernoulli ones).

Each epoch `on_epoch_end` saves decoded samples of 64 fixed z to artifacts/epochs/; the final
artifacts are `gradkit.artifacts.images`'s. No baseline yet for nats per image.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gradkit.artifacts import images
from gradkit.errors import ConfigError
from gradkit.models.adapters import VariationalAutoencoder
from gradkit.models.vae import kl_divergence
from gradkit.tasks import StepFn, register
from gradkit.tasks.images import ImageTask

EVAL_SEED = 4321


@register("vae")
class VAETask(ImageTask):
    outputs = "images"
    adapter = VariationalAutoencoder  # a user's module: module(x) -> (logits, mu, logvar)
    options = ("beta", "fid", "fid_classifier")

    def __init__(self, model: nn.Module, spec: Any, cfg: Any) -> None:
        if not hasattr(model, "posterior"):
            raise ConfigError("task.name=vae needs model.name=vae")
        if cfg.loss != "auto":
            raise ConfigError("task.vae: the loss is the negative ELBO; choose the likelihood "
                              "with model.likelihood=bernoulli|gaussian, not task.loss")
        self.models = {"model": model}
        self.model = model
        self.beta = cfg.beta
        self.binarise = model.likelihood == "bernoulli"
        self._reset()

    def terms(self, x: torch.Tensor, generator: torch.Generator | None = None
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """(rec, kl), each (B,) nats, for targets x (already binarised where they must be)."""
        logits, mu, logvar = self.model(x, generator)
        return -self.model.log_likelihood(logits, x), kl_divergence(mu, logvar)

    def train_step(self, batch, step: StepFn) -> dict[str, torch.Tensor]:
        x, _ = batch
        if self.binarise:
            x = torch.bernoulli(x)
        rec, kl = self.terms(x)
        loss = (rec + self.beta * kl).mean()
        step(loss, "model")
        rec, kl = rec.detach().mean(), kl.detach().mean()
        return {"loss": loss.detach(), "nelbo": rec + kl, "rec": rec, "kl": kl}

    def _reset(self) -> None:
        self._sums = {"rec": 0.0, "kl": 0.0}
        self._count = 0
        self._gen: torch.Generator | None = None

    def eval_step(self, batch) -> None:
        x, _ = batch
        if self._gen is None:  # one seeded stream per pass: the same binarisation and z each time
            self._gen = torch.Generator(x.device).manual_seed(EVAL_SEED)
        if self.binarise:
            x = (torch.rand(x.shape, generator=self._gen, device=x.device) < x).float()
        rec, kl = self.terms(x, self._gen)
        self._sums["rec"] += float(rec.sum())
        self._sums["kl"] += float(kl.sum())
        self._count += len(x)

    def eval_end(self) -> tuple[dict[str, float], dict[str, Any]]:
        rec, kl = (self._sums[k] / max(self._count, 1) for k in ("rec", "kl"))
        self._reset()
        return {"loss": rec + self.beta * kl, "nelbo": rec + kl, "rec": rec, "kl": kl}, {}

    def on_epoch_end(self, epoch: int, run) -> None:
        if not hasattr(self.model, "decode"):  # a user's VAE without a decoder to sample with
            return
        device = next(self.model.parameters()).device
        images.write_epoch_grid(run, epoch, self.model,
                                images.fixed_noise(images.GRID_IMAGES, self.model.latent, device))

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] -> reconstructions (decoded posterior means) in [0, 1]."""
        return self.model.reconstruct(x)
