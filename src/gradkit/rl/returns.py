"""Generalised advantage estimation (Schulman et al. 2016, https://arxiv.org/abs/1506.02438)."""
from __future__ import annotations

import torch


def gae(rewards: torch.Tensor, values: torch.Tensor, dones: torch.Tensor, next_value: torch.Tensor,
        gamma: float = 0.99, gae_lambda: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """Advantages and returns (advantages + values) of a rollout, all shaped (T, N).

    `dones[t]` is 1 where the episode ended at step t: no value is carried across it (a
    truncated episode's bootstrap value is added to its last reward by the caller).
    `next_value` (N,) is V(s_T), the value of the observation after the last step.

    >>> adv, ret = gae(rewards, values, dones, next_value, gamma=0.99, gae_lambda=0.95)
    """
    advantages = torch.zeros_like(rewards)
    last = torch.zeros_like(next_value)
    for t in reversed(range(rewards.shape[0])):
        following = next_value if t == rewards.shape[0] - 1 else values[t + 1]
        alive = 1.0 - dones[t]
        delta = rewards[t] + gamma * following * alive - values[t]
        last = delta + gamma * gae_lambda * alive * last
        advantages[t] = last
    return advantages, advantages + values
