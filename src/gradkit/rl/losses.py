"""PPO's loss terms (Schulman et al. 2017, https://arxiv.org/abs/1707.06347), each a plain function."""
from __future__ import annotations

import torch


def clipped_surrogate(logratio: torch.Tensor, advantages: torch.Tensor, clip_coef: float) -> torch.Tensor:
    """The clipped policy loss, mean(max(-A r, -A clip(r, 1-c, 1+c))), r = exp(logratio)."""
    ratio = logratio.exp()
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef)
    return torch.max(unclipped, clipped).mean()


def value_loss(new_values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor,
               clip_coef: float | None) -> torch.Tensor:
    """0.5 * squared error; with `clip_coef`, the larger of the clipped and unclipped errors."""
    unclipped = (new_values - returns) ** 2
    if clip_coef is None:
        return 0.5 * unclipped.mean()
    clipped_values = old_values + torch.clamp(new_values - old_values, -clip_coef, clip_coef)
    return 0.5 * torch.max(unclipped, (clipped_values - returns) ** 2).mean()


def entropy_bonus(entropy: torch.Tensor) -> torch.Tensor:
    """Mean policy entropy; subtracted (times ent_coef) from the loss to keep exploring."""
    return entropy.mean()


@torch.no_grad()
def approx_kl(logratio: torch.Tensor) -> torch.Tensor:
    """KL(old || new) estimated as mean((r - 1) - log r) (http://joschu.net/blog/kl-approx.html)."""
    return ((logratio.exp() - 1) - logratio).mean()
