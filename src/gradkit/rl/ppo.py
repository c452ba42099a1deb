"""Proximal Policy Optimization (Schulman et al. 2017, https://arxiv.org/abs/1707.06347).

One loop, top to bottom: collect `n_steps` from `n_envs` environments, compute GAE, then run
`update_epochs` passes of minibatch updates of the clipped surrogate. Discrete actions use a
categorical policy, continuous ones a diagonal Gaussian with a learnt, state-independent std.
Details follow CleanRL's ppo.py / ppo_continuous_action.py (Huang et al. 2022).
"""
from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn
from torch.distributions import Categorical, Normal

from gradkit.rl import register
from gradkit.rl.buffers import RolloutBuffer, stored
from gradkit.rl.common import RLCommon, Session, adam, mlp
from gradkit.rl.envs import final_obs, make_vec, valid_next
from gradkit.rl.losses import approx_kl, clipped_surrogate, entropy_bonus, value_loss
from gradkit.rl.returns import gae
from gradkit.rl.torsos import flat_input, image_torso


class PPOConfig(RLCommon):
    algo: Literal["ppo"] = "ppo"  # Proximal Policy Optimization (Schulman et al. 2017)
    lr: float = Field(2.5e-4, gt=0.0)  # Adam's learning rate (its start, with anneal_lr)
    anneal_lr: bool = True  # decay lr linearly to 0 at total_steps
    n_steps: int = Field(128, ge=1)  # steps per env per rollout
    gamma: float = Field(0.99, gt=0.0, le=1.0)  # discount factor
    gae_lambda: float = Field(0.95, ge=0.0, le=1.0)  # GAE's lambda: bias (0) against variance (1)
    n_minibatches: int = Field(4, ge=1)  # minibatches each rollout is cut into per epoch
    update_epochs: int = Field(4, ge=1)  # passes over each rollout
    norm_adv: bool = True  # normalise advantages per minibatch
    clip_coef: float = Field(0.2, gt=0.0)  # the probability ratio is clipped to 1 ± this
    clip_vloss: bool = True  # clip the value update to clip_coef around the old value
    ent_coef: float = Field(0.01, ge=0.0)  # weight of the entropy bonus
    vf_coef: float = Field(0.5, ge=0.0)  # weight of the value loss
    max_grad_norm: float = Field(0.5, gt=0.0)  # clip the gradient norm to this
    target_kl: float | None = Field(None, gt=0.0)  # stop the epochs early past this approx. KL


class ActorCritic(nn.Module):
    """Separate actor and critic MLPs on flat vectors; on images one shared convolutional torso
    (gradkit.rl.torsos) with a linear actor and critic head each, as in the Atari PPO of the
    implementation details (Huang et al. 2022). `continuous` adds a log-std per action dimension.
    """

    def __init__(self, obs_dim: int, n_actions: int, hidden: list[int], continuous: bool,
                 torso: nn.Module | None = None, inputs: list[nn.Module] | None = None) -> None:
        super().__init__()
        self.continuous = continuous
        self.torso = torso
        if torso is None:  # `inputs`: a Flatten in front of the MLPs for images (rl.torso=mlp)
            self.critic = nn.Sequential(*(inputs or []), *mlp([obs_dim, *hidden, 1], out_gain=1.0))
            self.actor = nn.Sequential(*(inputs or []), *mlp([obs_dim, *hidden, n_actions], out_gain=0.01))
        else:
            self.critic = mlp([torso.width, 1], out_gain=1.0)
            self.actor = mlp([torso.width, n_actions], out_gain=0.01)  # near-uniform at start
        if continuous:
            self.log_std = nn.Parameter(torch.zeros(n_actions))

    def features(self, obs: torch.Tensor) -> torch.Tensor:
        return obs if self.torso is None else self.torso(obs)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(self.features(obs)).squeeze(-1)  # (B,)

    def _dist(self, out: torch.Tensor):
        # validate_args=False: the argument checks cost more than the tiny networks' forward pass
        if self.continuous:
            return Normal(out, self.log_std.exp().expand_as(out), validate_args=False)
        return Categorical(logits=out, validate_args=False)

    def dist(self, obs: torch.Tensor):
        return self._dist(self.actor(self.features(obs)))  # logits or means (B, n_actions)

    def act(self, obs: torch.Tensor, action: torch.Tensor | None = None):
        """(action, log-prob, entropy, value); log-prob and entropy summed over action dims."""
        f = self.features(obs)
        dist = self._dist(self.actor(f))
        action = dist.sample() if action is None else action
        logprob, entropy = dist.log_prob(action), dist.entropy()
        if self.continuous:
            logprob, entropy = logprob.sum(-1), entropy.sum(-1)
        return action, logprob, entropy, self.critic(f).squeeze(-1)

    @torch.inference_mode()
    def sample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(action, log-prob, value) for the rollout: `act` without entropy or autograd.

        Called once per env step, so it skips the distribution object where it can: for a
        categorical policy a softmax and one multinomial draw cost half of `act` (CartPole).
        """
        f = self.features(obs)
        out = self.actor(f)
        value = self.critic(f).squeeze(-1)
        if self.continuous:
            dist = Normal(out, self.log_std.exp().expand_as(out), validate_args=False)
            action = dist.sample()
            return action, dist.log_prob(action).sum(-1), value
        logp = torch.log_softmax(out, -1)  # (B, n_actions)
        action = torch.multinomial(logp.exp(), 1)  # (B, 1)
        return action.squeeze(-1), logp.gather(-1, action).squeeze(-1), value

    def greedy(self, obs: torch.Tensor) -> torch.Tensor:
        out = self.actor(self.features(obs))
        return out if self.continuous else out.argmax(-1)


def actor_critic(cfg: PPOConfig, spec: dict[str, Any]) -> ActorCritic:
    return ActorCritic(spec["obs_dim"], spec["n_actions"], cfg.hidden, spec["action"] == "continuous",
                       image_torso(cfg, spec), flat_input(spec))


def policy(cfg: PPOConfig, spec: dict[str, Any]) -> tuple[str, ActorCritic]:
    """The network that acts, as checkpoints name it."""
    return "agent", actor_critic(cfg, spec)


@torch.no_grad()
def act(agent: Any, x: torch.Tensor, deterministic: bool) -> np.ndarray:
    """Observations (N, *obs_shape) -> actions: the mean or likeliest one, else a sample."""
    net = agent.networks["agent"]
    action = (net.greedy(x) if deterministic else net.dist(x).sample()).numpy()
    return np.clip(action, agent.spec["low"], agent.spec["high"]) if net.continuous else action


@register("ppo", PPOConfig, policy, act)
def train(cfg: PPOConfig, s: Session, spec: dict[str, Any], seed: int) -> ActorCritic:
    continuous = spec["action"] == "continuous"
    envs = make_vec(cfg.env, cfg.n_envs, cfg.vector)
    agent = actor_critic(cfg, spec)
    optimizer = adam(agent.parameters(), lr=cfg.lr, eps=1e-5)
    if s.restored:
        agent.load_state_dict(s.restored["models"]["agent"])
        optimizer.load_state_dict(s.restored["optims"]["agent"])

    def to_env(action: torch.Tensor) -> np.ndarray:  # Gaussian samples are clipped to the bounds
        a = action.numpy()
        return np.clip(a, spec["low"], spec["high"]) if continuous else a

    @torch.no_grad()
    def policy(raw_obs: np.ndarray) -> np.ndarray:
        return to_env(agent.greedy(torch.as_tensor(s.observe(raw_obs))))

    def state() -> dict[str, Any]:
        return {"models": {"agent": agent.state_dict()}, "optims": {"agent": optimizer.state_dict()}}

    shape, dtype = stored(spec)  # images stay uint8/bool: the torso scales them
    buf = RolloutBuffer(cfg.n_steps, cfg.n_envs, shape, (spec["n_actions"],) if continuous else (), dtype)
    step = s.step
    raw, _ = envs.reset(seed=seed + step)
    s.start_clock()
    valid = np.ones(cfg.n_envs, bool)  # False where this step only resets the env (rl/envs.py)
    while step < cfg.total_steps:
        if cfg.anneal_lr:
            optimizer.param_groups[0]["lr"] = cfg.lr * (1.0 - step / cfg.total_steps)

        # ---- rollout: n_steps x n_envs transitions with the current policy
        for t in range(cfg.n_steps):
            if cfg.normalize_obs:
                s.rms.update(raw)
            obs = torch.as_tensor(s.observe(raw))  # (N, obs_dim)
            action, logprob, value = agent.sample(obs)
            s.lap("act")
            raw, reward, terminated, truncated, info = envs.step(to_env(action))
            done = terminated | truncated
            if cfg.clip_reward:  # the episode statistics (info) keep the raw game score
                reward = np.sign(reward)
            reward = torch.as_tensor(reward, dtype=torch.float32)
            cut = truncated & ~terminated
            if cut.any():  # a time limit is not a terminal state: bootstrap from V(last obs)
                last = torch.as_tensor(s.observe(final_obs(raw, info, done)))
                with torch.no_grad():
                    reward += cfg.gamma * agent.value(last) * torch.as_tensor(cut, dtype=torch.float32)
            buf.store(t, obs=obs, actions=action, logprobs=logprob, values=value, rewards=reward,
                      dones=torch.as_tensor(done, dtype=torch.float32), valid=torch.as_tensor(valid))
            valid = valid_next(envs, done)
            s.record(info)
            step += cfg.n_envs
            s.lap("env")
        with torch.no_grad():
            next_value = agent.value(torch.as_tensor(s.observe(raw)))
        advantages, returns = gae(buf.rewards, buf.values, buf.dones, next_value, cfg.gamma, cfg.gae_lambda)

        # ---- update: update_epochs passes over shuffled minibatches of the rollout
        b = buf.flat(advantages, returns)  # (M, ...): the M <= n_steps*n_envs real transitions
        kls, clipfracs = [], []
        for _epoch in range(cfg.update_epochs):
            for idx in torch.randperm(len(b["obs"])).chunk(cfg.n_minibatches):
                _, logprob, entropy, value = agent.act(b["obs"][idx], b["actions"][idx])
                logratio = logprob - b["logprobs"][idx]
                adv = b["advantages"][idx]
                if cfg.norm_adv and len(idx) > 1:
                    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                pg_loss = clipped_surrogate(logratio, adv, cfg.clip_coef)
                v_loss = value_loss(value, b["values"][idx], b["returns"][idx],
                                    cfg.clip_coef if cfg.clip_vloss else None)
                ent = entropy_bonus(entropy)
                loss = pg_loss - cfg.ent_coef * ent + cfg.vf_coef * v_loss
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), cfg.max_grad_norm, foreach=True)
                optimizer.step()
                kls.append(approx_kl(logratio).item())
                clipfracs.append(((logratio.exp() - 1).abs() > cfg.clip_coef).float().mean().item())
            if cfg.target_kl is not None and kls[-1] > cfg.target_kl:
                break
        s.lap("update")

        if s.due(step):
            scalars = {"losses/policy_loss": pg_loss.item(), "losses/value_loss": v_loss.item(),
                       "losses/entropy": ent.item(), "losses/approx_kl": float(np.mean(kls)),
                       "losses/clipfrac": float(np.mean(clipfracs)),
                       "charts/lr": optimizer.param_groups[0]["lr"]}
            if s.evaluate(step, policy, scalars, state):
                break
    envs.close()
    return agent
