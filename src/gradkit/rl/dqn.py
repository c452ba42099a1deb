"""Deep Q-Network (Mnih et al. 2015), with the double-DQN target (van Hasselt et al. 2016) as an option.

One loop, top to bottom: act epsilon-greedily, store the transition in the replay buffer, and
every `train_frequency` env steps take `gradient_steps` TD-loss steps on sampled minibatches;
every `target_update_every` steps move the target network towards the online one (tau=1: copy).
Defaults follow CleanRL's dqn.py for CartPole.
"""
from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from gradkit.config import Widths
from gradkit.rl import register
from gradkit.rl.buffers import ReplayBuffer
from gradkit.rl.common import RLCommon, Session, adam, mlp
from gradkit.rl.envs import final_obs, make_vec, valid_next
from gradkit.rl.torsos import flat_input, image_torso


class DQNConfig(RLCommon):
    algo: Literal["dqn"] = "dqn"  # Deep Q-Network (Mnih et al. 2015), discrete actions
    n_envs: int = Field(1, ge=1)
    hidden: Widths = [120, 84]
    lr: float = Field(2.5e-4, gt=0.0)  # Adam's learning rate
    buffer_size: int = Field(10_000, ge=1)  # transitions the replay memory holds (oldest overwritten)
    save_buffer: bool = False  # keep the replay buffer in checkpoints (exact resume, larger files)
    gamma: float = Field(0.99, gt=0.0, le=1.0)  # discount factor of the TD target
    tau: float = Field(1.0, gt=0.0, le=1.0)  # 1: hard copy; < 1: Polyak averaging
    target_update_every: int = Field(500, ge=1)  # env steps between target-network updates
    batch_size: int = Field(128, ge=1)  # transitions per minibatch
    start_e: float = Field(1.0, ge=0.0, le=1.0)  # epsilon (probability of a random action) at the start
    end_e: float = Field(0.05, ge=0.0, le=1.0)  # epsilon after the exploration_fraction
    exploration_fraction: float = Field(0.5, gt=0.0, le=1.0)  # of total_steps to decay epsilon over
    learning_starts: int = Field(10_000, ge=0)  # env steps of experience before the first update
    train_frequency: int = Field(10, ge=1)  # env steps between updates
    gradient_steps: int = Field(1, ge=1)  # minibatch steps per update
    double_dqn: bool = False  # the online net picks the next action, the target net scores it
    max_grad_norm: float | None = Field(10.0, gt=0.0)  # clip the gradient norm; null: no clipping
    # mse, as CleanRL: with Adam at lr 2.5e-4 on CartPole, Huber let Q grow past the 1/(1-gamma)
    # bound (to ~300 in 1,500 updates on random data, measured) while mse settled near 20
    loss: Literal["mse", "huber"] = "mse"


def epsilon(cfg: DQNConfig, step: int) -> float:
    """Linear decay from start_e to end_e over exploration_fraction * total_steps, then flat."""
    span = cfg.exploration_fraction * cfg.total_steps
    return max(cfg.end_e, cfg.start_e + (cfg.end_e - cfg.start_e) * step / span)


def crossed(step: int, n_envs: int, every: int) -> bool:
    """True when the last vector step (n_envs env steps) passed a multiple of `every`."""
    return step // every != (step - n_envs) // every


def q_network(cfg: DQNConfig, spec: dict[str, Any]) -> nn.Sequential:
    """Observations -> one Q-value per action: an MLP, or an image torso and a linear head."""
    torso = image_torso(cfg, spec)
    if torso is None:
        return nn.Sequential(*flat_input(spec), *mlp([spec["obs_dim"], *cfg.hidden, spec["n_actions"]],
                                                     activation=nn.ReLU))
    return nn.Sequential(torso, mlp([torso.width, spec["n_actions"]]))


def policy(cfg: DQNConfig, spec: dict[str, Any]) -> tuple[str, nn.Module]:
    """The network that acts (the online Q-network), as checkpoints name it."""
    return "q_net", q_network(cfg, spec)


def check(cfg: DQNConfig, spec: dict[str, Any], source: str) -> None:
    """A replay memory that cannot fit in this machine's memory is refused before training."""
    ReplayBuffer.check_fits(cfg.buffer_size, spec, source)


@torch.no_grad()
def act(agent: Any, x: torch.Tensor, deterministic: bool) -> np.ndarray:
    """Observations (N, *obs_shape) -> argmax Q; otherwise random with probability `agent.epsilon`."""
    action = agent.networks["q_net"](x).argmax(-1).numpy()
    if not deterministic:
        explore = np.random.random(len(action)) < agent.epsilon
        action[explore] = np.random.randint(0, agent.spec["n_actions"], int(explore.sum()))
    return action


@register("dqn", DQNConfig, policy, act, actions=("discrete",), check=check)
def train(cfg: DQNConfig, s: Session, spec: dict[str, Any], seed: int) -> nn.Module:
    envs = make_vec(cfg.env, cfg.n_envs, cfg.vector)
    q_net, target = q_network(cfg, spec), q_network(cfg, spec)
    optimizer = adam(q_net.parameters(), lr=cfg.lr)
    # raw observations (images in their own dtype), normalised when sampled
    buf = ReplayBuffer.for_env(cfg.buffer_size, spec)
    rng = np.random.default_rng(seed)
    if s.restored:
        q_net.load_state_dict(s.restored["models"]["q_net"])
        optimizer.load_state_dict(s.restored["optims"]["q_net"])
        rng.bit_generator.state = s.restored["dqn_rng"]
        if s.restored.get("buffer") is not None:
            buf.load_state_dict(s.restored["buffer"])
    target.load_state_dict(q_net.state_dict() if not s.restored else s.restored["models"]["target"])

    @torch.no_grad()
    def policy(raw_obs: np.ndarray) -> np.ndarray:
        return q_net(torch.as_tensor(s.observe(raw_obs))).argmax(-1).numpy()

    def state() -> dict[str, Any]:
        return {"models": {"q_net": q_net.state_dict(), "target": target.state_dict()},
                "optims": {"q_net": optimizer.state_dict()}, "dqn_rng": rng.bit_generator.state,
                "buffer": buf.state_dict() if cfg.save_buffer else None}

    step, losses, q_values = s.step, [], []
    raw, _ = envs.reset(seed=seed + step)
    s.start_clock()
    valid = np.ones(cfg.n_envs, bool)  # False where this step only resets the env (rl/envs.py)
    updated = True  # a gradient step since the target's last copy (a resumed run: assume so)
    while step < cfg.total_steps:
        # ---- act epsilon-greedily and store the transitions
        if cfg.normalize_obs:
            s.rms.update(raw)
        # exploration is drawn first so that the network runs only when some env exploits (early on
        # most steps explore); the random stream is the same as computing the greedy action always
        explore = rng.random(cfg.n_envs) < epsilon(cfg, step)
        actions = np.zeros(cfg.n_envs, np.int64) if explore.all() else policy(raw)
        actions[explore] = rng.integers(0, spec["n_actions"], int(explore.sum()))
        s.lap("act")
        next_raw, reward, terminated, truncated, info = envs.step(actions)
        if cfg.clip_reward:  # the episode statistics (info) keep the raw game score
            reward = np.sign(reward)
        # the true last observation; only termination cuts the bootstrap (not a time limit)
        done = terminated | truncated
        last = final_obs(next_raw, info, done)
        buf.add(raw[valid], last[valid], actions[valid], reward[valid], terminated[valid])
        valid = valid_next(envs, done)
        s.record(info)
        raw = next_raw
        step += cfg.n_envs
        s.lap("env")

        # ---- learn: TD loss between Q(s, a) and r + gamma * max_a' Q_target(s', a')
        if step > cfg.learning_starts and crossed(step, cfg.n_envs, cfg.train_frequency):
            # the burst's minibatches drawn at once (the buffer does not change within it)
            for obs, act, rew, nxt, done in buf.minibatches(cfg.batch_size, cfg.gradient_steps, rng):
                obs, nxt = torch.as_tensor(s.observe(obs.numpy())), torch.as_tensor(s.observe(nxt.numpy()))
                with torch.no_grad():
                    if cfg.double_dqn:
                        best = q_net(nxt).argmax(-1, keepdim=True)
                        next_q = target(nxt).gather(1, best).squeeze(1)
                    else:
                        next_q = target(nxt).max(-1).values
                    td_target = rew + cfg.gamma * next_q * (1.0 - done)
                q = q_net(obs).gather(1, act.unsqueeze(1)).squeeze(1)  # (B,)
                loss = (F.mse_loss if cfg.loss == "mse" else F.smooth_l1_loss)(q, td_target)
                optimizer.zero_grad()
                loss.backward()
                if cfg.max_grad_norm is not None:
                    nn.utils.clip_grad_norm_(q_net.parameters(), cfg.max_grad_norm, foreach=True)
                optimizer.step()
                losses.append(loss.detach())  # read once per evaluation: no sync per step
                q_values.append(q.detach().mean())
            updated = True
        # a hard copy (tau=1) with no update since the last one would copy the same weights
        if (step > cfg.learning_starts and crossed(step, cfg.n_envs, cfg.target_update_every)
                and (updated or cfg.tau < 1.0)):
            updated = False
            with torch.no_grad():
                for t_param, q_param in zip(target.parameters(), q_net.parameters()):
                    t_param.lerp_(q_param, cfg.tau)
        s.lap("update")

        if s.due(step):
            scalars = {"charts/epsilon": epsilon(cfg, step)}
            if losses:
                scalars.update({"losses/td_loss": torch.stack(losses).mean().item(),
                                "losses/q_values": torch.stack(q_values).mean().item()})
            losses, q_values = [], []
            if s.evaluate(step, policy, scalars, state):
                break
    envs.close()
    return q_net
