"""A replay buffer (DQN) and a rollout buffer (PPO)."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gradkit.errors import ConfigError


class ReplayBuffer:
    """A fixed-capacity ring of transitions; the oldest are overwritten once it is full.

    Observations are kept in the env's own dtype (float32 vectors; uint8 or bool images: an
    84x84x4 Atari stack is 28 KB a copy, so `check_fits` refuses a capacity the machine's memory
    cannot hold before anything is allocated).

    >>> buf = ReplayBuffer(10_000, obs_shape=4); buf.add(obs, next_obs, actions, rewards, dones)
    >>> obs, actions, rewards, next_obs, dones = buf.sample(128, rng)
    """

    def __init__(self, capacity: int, obs_shape: int | tuple[int, ...], dtype: str = "float32") -> None:
        shape = (obs_shape,) if isinstance(obs_shape, int) else tuple(obs_shape)
        self.capacity = capacity
        self.obs = np.zeros((capacity, *shape), dtype)
        self.next_obs = np.zeros((capacity, *shape), dtype)
        self.actions = np.zeros(capacity, np.int64)
        self.rewards = np.zeros(capacity, np.float32)
        self.dones = np.zeros(capacity, np.float32)  # terminated only: truncation still bootstraps
        self.pos = 0
        self.full = False

    @classmethod
    def for_env(cls, capacity: int, spec: dict[str, Any]) -> ReplayBuffer:
        return cls(capacity, *stored(spec))

    @staticmethod
    def bytes_needed(capacity: int, spec: dict[str, Any]) -> int:
        """Memory of a buffer of `capacity` transitions for an env `spec` (gradkit.rl.envs.describe)."""
        shape, dtype = stored(spec)
        return capacity * (2 * int(np.prod(shape)) * np.dtype(dtype).itemsize + 8 + 4 + 4)

    @staticmethod
    def check_fits(capacity: int, spec: dict[str, Any], source: str = "config") -> None:
        """A ConfigError when the buffer would take more than 80% of the memory available now."""
        need, free = ReplayBuffer.bytes_needed(capacity, spec), available_memory()
        if free is None or need <= 0.8 * free:
            return
        per = ReplayBuffer.bytes_needed(1, spec)
        shape, dtype = stored(spec)
        raise ConfigError(f"invalid config ({source}): rl.buffer_size={capacity:,} transitions of "
                          f"{'x'.join(map(str, shape))} {dtype} observations (and the next "
                          f"ones) need {need / 2**30:.1f} GiB; this machine has {free / 2**30:.1f} GiB "
                          f"available: use rl.buffer_size={int(0.8 * free / per):,} or less")

    def __len__(self) -> int:
        return self.capacity if self.full else self.pos

    def add(self, obs, next_obs, actions, rewards, dones) -> None:
        """One transition per env: arrays shaped (N, obs_dim) or (N,)."""
        for i in range(len(actions)):
            p = self.pos
            self.obs[p], self.next_obs[p] = obs[i], next_obs[i]
            self.actions[p], self.rewards[p], self.dones[p] = actions[i], rewards[i], dones[i]
            self.pos = (p + 1) % self.capacity
            self.full = self.full or self.pos == 0

    def sample(self, batch_size: int, rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
        idx = rng.integers(0, len(self), batch_size)
        return tuple(torch.as_tensor(a[idx]) for a in
                     (self.obs, self.actions, self.rewards, self.next_obs, self.dones))

    def minibatches(self, batch_size: int, n: int, rng: np.random.Generator,
                    chunk_bytes: int = 16 << 20):
        """`n` minibatches for one burst of gradient steps: one index draw, gathered in chunks of
        at most ~`chunk_bytes` of observations (a burst of 64 small minibatches in one gather
        instead of 64; image batches a few at a time)."""
        idx = rng.integers(0, len(self), (n, batch_size))
        per = max(1, chunk_bytes // max(1, 2 * batch_size * self.obs[0].nbytes))
        for start in range(0, n, per):
            rows = idx[start:start + per]
            flat = rows.reshape(-1)
            arrays = [torch.as_tensor(a[flat]) for a in
                      (self.obs, self.actions, self.rewards, self.next_obs, self.dones)]
            for k in range(len(rows)):
                yield tuple(a[k * batch_size:(k + 1) * batch_size] for a in arrays)

    def state_dict(self) -> dict[str, Any]:
        n = len(self)
        return {"obs": self.obs[:n].copy(), "next_obs": self.next_obs[:n].copy(),
                "actions": self.actions[:n].copy(), "rewards": self.rewards[:n].copy(),
                "dones": self.dones[:n].copy(), "pos": self.pos, "full": self.full}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        n = len(state["actions"])
        for key in ("obs", "next_obs", "actions", "rewards", "dones"):
            getattr(self, key)[:n] = state[key]
        self.pos, self.full = state["pos"], state["full"]


class RolloutBuffer:
    """T steps of N envs, on-policy, as tensors shaped (T, N, ...); refilled every update."""

    def __init__(self, n_steps: int, n_envs: int, obs_shape: int | tuple[int, ...],
                 action_shape: tuple[int, ...], obs_dtype: str = "float32") -> None:
        shape = (obs_shape,) if isinstance(obs_shape, int) else tuple(obs_shape)
        dtype = {"uint8": torch.uint8, "bool": torch.bool}.get(obs_dtype, torch.float32)
        self.obs = torch.zeros(n_steps, n_envs, *shape, dtype=dtype)
        self.actions = torch.zeros(n_steps, n_envs, *action_shape)
        self.logprobs = torch.zeros(n_steps, n_envs)
        self.rewards = torch.zeros(n_steps, n_envs)
        self.dones = torch.zeros(n_steps, n_envs)
        self.values = torch.zeros(n_steps, n_envs)
        self.valid = torch.ones(n_steps, n_envs, dtype=torch.bool)  # False: a reset-only step

    def store(self, t: int, **tensors: torch.Tensor) -> None:
        for key, value in tensors.items():
            getattr(self, key)[t] = value

    def flat(self, advantages: torch.Tensor, returns: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every field with time and env merged into one batch axis (M, ...), keeping the M valid
        transitions (reset-only steps of a next-step-autoreset env are dropped, see rl/envs.py)."""
        fields = {"obs": self.obs, "actions": self.actions, "logprobs": self.logprobs,
                  "values": self.values, "advantages": advantages, "returns": returns}
        keep = self.valid.reshape(-1)
        return {k: v.reshape(-1, *v.shape[2:])[keep] for k, v in fields.items()}


def stored(spec: dict[str, Any]) -> tuple[tuple[int, ...], str]:
    """How a buffer keeps an env's observations: images in their own shape and dtype (uint8,
    bool), vectors as float32."""
    if spec.get("image"):
        return tuple(spec["obs_shape"]), spec["obs_dtype"]
    return (spec["obs_dim"],), "float32"


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation now (Linux: MemAvailable), None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None
