"""The GAN task: per batch, one discriminator step, then one generator step.

Two optimisers, "discriminator" and "generator", from `configure_optimizers` (the same
`optim` settings for both; the articles use Adam 2e-4, betas (0.5, 0.999)). The loop steps
each through `step(loss, name)`, so precision, clipping and checkpoints (both networks inside
the one "model" entry, both optimiser states) need nothing special.

    D: BCE(D(x), 1 - label_smoothing) + BCE(D(G(z)), 0)      one-sided label smoothing
    G: BCE(D(G(z)), 1)                                       non-saturating (Goodfellow 2014 s.3)

Metrics: `d_loss`, `g_loss`, and `d_real` / `d_fake`, the mean D(x) and D(G(z)) (sigmoid of
the logits). On val/test, fake images come from a seeded noise stream. Neither loss measures
sample quality, so the recipes keep the last epoch (`train.monitor: epoch`).

Each epoch `on_epoch_end` saves the images of 64 fixed noise vectors to artifacts/epochs/;
the final artifacts are `gradkit.artifacts.images`'s. No baseline yet for samples.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gradkit.artifacts import images
from gradkit.errors import ConfigError
from gradkit.models.adapters import Adversarial
from gradkit.tasks import StepFn, register
from gradkit.tasks.images import ImageTask
from gradkit.training.optim import build_optimizer

EVAL_SEED = 4321


def bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    logits = logits.float()  # (B, 1); in fp32 even under autocast
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


@register("gan")
class GANTask(ImageTask):
    outputs = "verdict"  # predict(): the discriminator's probability that an image is real
    adapter = Adversarial  # a user's module with generator and discriminator, or (G, D)
    monitor = "epoch"  # no loss measures sample quality: keep the last epoch (gk.fit's default)
    options = ("label_smoothing", "fid", "fid_classifier")  # one-sided label smoothing

    def __init__(self, model: nn.Module, spec: Any, cfg: Any) -> None:
        if not hasattr(model, "discriminator"):
            raise ConfigError("task.name=gan needs model.name=gan")
        if cfg.loss != "auto":
            raise ConfigError("task.gan: the losses are fixed (BCE, non-saturating); drop task.loss")
        self.models = {"model": model}
        self.model = model
        self.real_target = 1.0 - cfg.label_smoothing
        self._reset()

    def configure_optimizers(self, optim_cfg) -> dict[str, torch.optim.Optimizer]:
        return {"discriminator": build_optimizer(self.model.discriminator.parameters(), optim_cfg),
                "generator": build_optimizer(self.model.generator.parameters(), optim_cfg)}

    def train_step(self, batch, step: StepFn) -> dict[str, torch.Tensor]:
        x, _ = batch
        G, D = self.model.generator, self.model.discriminator
        real = x * 2 - 1  # [0, 1] -> [-1, 1], the generator's range
        fake = G(torch.randn(len(x), self.model.noise_dim, device=x.device))
        d_real, d_fake = D(real), D(fake.detach())
        d_loss = bce(d_real, self.real_target) + bce(d_fake, 0.0)
        step(d_loss, "discriminator")
        D.requires_grad_(False)  # the G step needs gradients through D, not for D's weights
        g_loss = bce(D(fake), 1.0)
        step(g_loss, "generator")
        D.requires_grad_(True)
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(),
                "d_real": torch.sigmoid(d_real.detach().float()).mean(),
                "d_fake": torch.sigmoid(d_fake.detach().float()).mean()}

    def _reset(self) -> None:
        self._sums = {"d_loss": 0.0, "g_loss": 0.0, "d_real": 0.0, "d_fake": 0.0}
        self._count = 0
        self._gen: torch.Generator | None = None

    def eval_step(self, batch) -> None:
        x, _ = batch
        if self._gen is None:
            self._gen = torch.Generator(x.device).manual_seed(EVAL_SEED)
        z = torch.randn(len(x), self.model.noise_dim, generator=self._gen, device=x.device)
        d_real = self.model.discriminator(x * 2 - 1).float()
        d_fake = self.model.discriminator(self.model.generator(z)).float()
        n = len(x)
        self._sums["d_loss"] += float(bce(d_real, self.real_target) + bce(d_fake, 0.0)) * n
        self._sums["g_loss"] += float(bce(d_fake, 1.0)) * n
        self._sums["d_real"] += float(torch.sigmoid(d_real).sum())
        self._sums["d_fake"] += float(torch.sigmoid(d_fake).sum())
        self._count += n

    def eval_end(self) -> tuple[dict[str, float], dict[str, Any]]:
        scalars = {k: v / max(self._count, 1) for k, v in self._sums.items()}
        self._reset()
        return scalars, {}

    def on_epoch_end(self, epoch: int, run) -> None:
        device = next(self.model.parameters()).device
        images.write_epoch_grid(run, epoch, self.model,
                                images.fixed_noise(images.GRID_IMAGES, self.model.noise_dim, device))

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] -> the discriminator's probability that each is real, (N,)."""
        return torch.sigmoid(self.model.discriminator(x * 2 - 1).float()).squeeze(1)
