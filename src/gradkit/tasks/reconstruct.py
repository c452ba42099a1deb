"""Reconstruction: an autoencoder learns to give back its input (pixels in [0, 1]).

Loss `mse` (default) or `bce` on the decoder's logits. With `task.noise` > 0 the input gets
Gaussian noise of that std (clipped to [0, 1]) and the target stays clean: a denoising
autoencoder (Vincent et al. 2008). Evaluation adds the same noise on every pass (a seeded
generator), so validation figures are comparable from epoch to epoch.

Metrics (val/test): `loss` (the training loss), `mse` (per pixel, of sigmoid(logits) against
the clean image; `baseline/mean/mse` is the mean training image's). Artifacts:
`gradkit.artifacts.images`.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gradkit.errors import ConfigError
from gradkit.tasks import StepFn, register
from gradkit.models.adapters import Reconstructor
from gradkit.tasks.images import ImageTask

EVAL_NOISE_SEED = 4321


@register("reconstruct")
class ReconstructTask(ImageTask):
    outputs = "images"
    adapter = Reconstructor  # a user's module: module(x) -> the reconstruction
    options = ("noise",)  # a denoising autoencoder

    def __init__(self, model: nn.Module, spec: Any, cfg: Any) -> None:
        if not hasattr(model, "reconstruct"):
            raise ConfigError("task.name=reconstruct needs an autoencoder: model.name=autoencoder")
        if cfg.loss not in ("auto", "mse", "bce"):
            raise ConfigError(f"task.loss={cfg.loss} does not fit reconstruct; use mse or bce")
        self.models = {"model": model}
        self.model = model
        self.loss_name = "mse" if cfg.loss == "auto" else cfg.loss
        self.noise = cfg.noise
        self._reset()

    def corrupt(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """x plus N(0, noise^2) per pixel, clipped to [0, 1]; x itself without task.noise."""
        if not self.noise:
            return x
        eps = torch.randn(x.shape, generator=generator, device=x.device)
        return (x + self.noise * eps).clamp_(0.0, 1.0)

    def loss(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        logits = logits.float()  # (B, C, H, W); in fp32 even under autocast
        if self.loss_name == "bce":
            return F.binary_cross_entropy_with_logits(logits, x)
        return F.mse_loss(torch.sigmoid(logits), x)

    def train_step(self, batch, step: StepFn) -> dict[str, torch.Tensor]:
        x, _ = batch
        logits = self.model(self.corrupt(x))
        loss = self.loss(logits, x)
        step(loss, "model")
        return {"loss": loss.detach()}

    def _reset(self) -> None:
        self._sums = {"loss": 0.0, "mse": 0.0}
        self._count = 0
        self._gen: torch.Generator | None = None

    def eval_step(self, batch) -> None:
        x, _ = batch
        if self._gen is None:  # the same noise on every evaluation pass
            self._gen = torch.Generator(x.device).manual_seed(EVAL_NOISE_SEED)
        logits = self.model(self.corrupt(x, self._gen))
        self._sums["loss"] += float(self.loss(logits, x)) * len(x)
        self._sums["mse"] += float(F.mse_loss(torch.sigmoid(logits.float()), x)) * len(x)
        self._count += len(x)

    def eval_end(self) -> tuple[dict[str, float], dict[str, Any]]:
        scalars = {k: v / max(self._count, 1) for k, v in self._sums.items()}
        self._reset()
        return scalars, {}

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] -> reconstructions in [0, 1]."""
        return self.model.reconstruct(x)

    def baselines(self, data: Any, seed: int) -> dict[str, float]:
        """Every test image reconstructed as the mean training image."""
        from gradkit.metrics.baselines import mean_image_baseline

        return mean_image_baseline(data)
