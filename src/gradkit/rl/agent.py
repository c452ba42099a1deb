"""A saved RL agent, reloaded: `load_agent`, deterministic evaluation (`play`) and episode GIFs.

    from gradkit.rl import load_agent
    agent = load_agent("runs/cartpole-ppo/<run>")      # best checkpoint
    action = agent.act(obs)                             # one observation, or a batch (N, ...)

The observation normaliser is the one saved with the checkpoint, frozen: `act` never updates it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gradkit.errors import GradkitError
from gradkit.rl.common import EVAL_SEED, run_episodes
from gradkit.rl.envs import RunningMeanStd, describe, make_env, require_gym

CHECKPOINTS = ("best", "last")


@dataclass
class Agent:
    """A trained policy: `act(obs)` maps raw observations to env actions."""

    env_id: str
    algo: str
    networks: dict[str, nn.Module] = field(repr=False)  # ppo: {"agent": ActorCritic}; dqn: {"q_net": ...}
    obs_rms: RunningMeanStd | None = field(repr=False)  # None when the run did not normalise
    spec: dict[str, Any] = field(repr=False)
    seed: int = 0  # the run's seed: play's default, so it repeats the run's own evaluation episodes
    epsilon: float = 0.0  # dqn, deterministic=False: chance of a random action

    def observe(self, obs: np.ndarray) -> np.ndarray:
        if self.spec.get("image"):  # as the env gives them: the torso scales them
            return obs
        return self.obs_rms.normalize(obs) if self.obs_rms is not None else obs.astype(np.float32)

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """Actions for raw observations: one observation (obs_shape) -> one action, a batch
        (N, *obs_shape) -> N actions.

        Deterministic: PPO's mean / likeliest action, DQN's argmax Q. Otherwise PPO samples its
        policy and DQN acts at random with probability `epsilon` (the run's final rl.end_e).
        """
        from gradkit.rl import ALGOS

        obs = np.asarray(obs)
        single = obs.ndim == len(self.spec.get("obs_shape", (1,)))
        x = torch.as_tensor(self.observe(obs[None] if single else obs))  # (N, *obs_shape)
        action = ALGOS.get(self.algo, key="rl.algo").act(self, x, deterministic)
        return action[0] if single else action


def load_agent(run_dir: str | Path, checkpoint: str = "best") -> Agent:
    """The agent of an RL run directory, from its `best` (default) or `last` checkpoint.

    >>> agent = load_agent("runs/cartpole-ppo/<run>", checkpoint="last")
    """
    from gradkit import checkpoint as ckpt
    from gradkit import config as C
    from gradkit.rl import ALGOS, typed
    from gradkit.rundir import RunDir

    if checkpoint not in CHECKPOINTS:
        raise GradkitError(f"checkpoint must be best or last, got '{checkpoint}'")
    run = RunDir.existing(run_dir)
    cfg = C.parse_file(run.config_path)
    if not cfg.rl:
        raise GradkitError(f"{run.path} is not a reinforcement-learning run (task "
                           f"'{cfg.task.name}'); gradkit play and load_agent need one, e.g. from "
                           "`gradkit train cartpole-ppo`")
    state = ckpt.load(run.path / "checkpoints" / f"{checkpoint}.pt")
    rl = typed(cfg.rl)
    spec = describe(rl.env)
    name, net = ALGOS.get(rl.algo, key="rl.algo").policy(rl, spec)
    net.load_state_dict(state["models"][name])
    net.eval()
    rms = None
    if rl.normalize_obs:
        rms = RunningMeanStd((spec["obs_dim"],))
        rms.load_state_dict(state["obs_rms"])
    return Agent(rl.env, rl.algo, {name: net}, rms, spec, cfg.seed, getattr(rl, "end_e", 0.0))


def evaluate_agent(agent: Agent, episodes: int, seed: int | None = None) -> np.ndarray:
    """Returns of `episodes` deterministic episodes, from the seeds the run's evaluation uses."""
    if episodes < 1:
        raise GradkitError(f"episodes must be at least 1, got {episodes}")
    return run_episodes(agent.env_id, episodes, agent.seed if seed is None else seed, agent.act)


def episode_frames(agent: Agent, seed: int | None = None, max_frames: int = 500,
                   stride: int = 1) -> tuple[list[np.ndarray], list[int]]:
    """RGB frames (H, W, 3) of the first evaluation episode (the one `evaluate_agent` runs first),
    and how many of the episode's frames each one stands for: with `stride` k only every k-th
    frame is drawn (and the last), rendering being most of a GIF's cost."""
    import os

    gym = require_gym()
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # off-screen: no display, no SDL warning
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    # a grid of bool channels (MinAtar) is drawn from the observation itself: the env renders
    # through a matplotlib window, not to an array
    grid = agent.spec.get("image") == "hwc" and agent.spec.get("obs_dtype") == "bool"
    try:
        env = make_env(agent.env_id, **({} if grid else {"render_mode": "rgb_array"}))
        obs, _ = env.reset(seed=EVAL_SEED + (agent.seed if seed is None else seed) * 1000)
        frames, counts = [grid_frame(obs) if grid else env.render()], [1]
    except (ImportError, gym.error.DependencyNotInstalled) as exc:
        raise GradkitError(f"rendering {agent.env_id} needs pygame: pip install 'gradkit[rl]' "
                           f"(or pip install pygame) ({exc})") from None
    done, i = False, 0  # i: the index of the episode's latest frame (0: the reset)
    while not done and i + 1 < max_frames:
        obs, _, terminated, truncated, _ = env.step(agent.act(obs))
        done, i = terminated or truncated, i + 1
        if i % stride and not (done or i + 1 == max_frames):
            counts[-1] += 1  # not drawn: the last frame drawn stays on screen for it
            continue
        frames.append(grid_frame(obs) if grid else env.render())
        counts.append(1)
    env.close()
    return frames, counts


def grid_frame(obs: np.ndarray) -> np.ndarray:
    """An (H, W, C) grid of bool channels as an RGB image: each channel its own colour (a later
    channel drawn over an earlier one), the background dark, as MinAtar's own display does."""
    import matplotlib

    n = obs.shape[-1]
    colours = (np.asarray(matplotlib.colormaps["tab10"](np.arange(n) % 10))[:, :3] * 255).astype(np.uint8)
    frame = np.full((*obs.shape[:2], 3), 24, np.uint8)
    for c in range(n):
        frame[obs[..., c].astype(bool)] = colours[c]
    return frame


def render_fps(env_id: str) -> int:
    """The env's own frame rate (CartPole 50, Acrobot 15), so a GIF plays in real time; GIF
    delays are whole 1/100 s, so it is kept to 10-50 fps."""
    env = make_env(env_id)
    fps = env.metadata.get("render_fps") or 25
    env.close()
    return int(min(50, max(10, fps)))


def write_gif(frames: list[np.ndarray], path: str | Path, width: int = 240, fps: int = 25,
              counts: list[int] | None = None) -> Path:
    """An animated, looping GIF of `frames`, `width` pixels wide (about: small frames are
    enlarged by a whole factor) so it stays small but readable; frame i shows for `counts[i]`
    frame times (episode_frames' stride), so the duration is the episode's.

    GIF delays are in 1/100 s, so fps should divide 100; PIL merges identical consecutive frames
    (adding their delays), so `n_frames` can be below `len(frames)` while the duration is exact.
    One 64-colour palette, taken from frames across the episode, serves every frame (a palette
    per frame cost 0.5 s of a 300-frame CartPole GIF).
    """
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images = []
    for frame in frames:
        image = Image.fromarray(np.asarray(frame, np.uint8))
        # large screens shrink smoothly (a box-filter halving first: cheaper than one bilinear
        # pass over the full frame); small grids (MinAtar's 10x10) grow in whole, sharp cells
        scale = width / image.width if image.width > width else max(1, width // image.width)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        while scale < 1 and image.width >= 2 * size[0] and image.height >= 2 * size[1]:
            image = image.reduce(2)
        images.append(image.resize(size, Image.BILINEAR if scale < 1 else Image.NEAREST))
    samples = images[:: max(1, len(images) // 8)][:8]
    strip = Image.new("RGB", (images[0].width, images[0].height * len(samples)))
    for k, image in enumerate(samples):
        strip.paste(image.convert("RGB"), (0, k * image.height))
    palette = strip.quantize(64)
    images = [image.convert("RGB").quantize(palette=palette, dither=Image.Dither.NONE) for image in images]
    step = round(1000 / fps)
    durations = [step * c for c in counts] if counts else step
    tmp = path.with_name(f".{path.name}.tmp")
    images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                   duration=durations, loop=0, optimize=True)
    tmp.replace(path)
    return path


def gif_stride(fps: int) -> int:
    """Frames drawn per GIF frame: about 25 drawn frames a second (CartPole's 50 fps: every
    other one; each shown twice as long, so the episode plays in real time)."""
    return max(1, round(fps / 25))


def play(run_dir: str | Path, episodes: int = 10, seed: int | None = None, gif: str | Path | None = None,
         checkpoint: str = "best") -> dict[str, Any]:
    """Evaluate a saved agent deterministically; optionally write its first episode as a GIF.

    >>> out = play("runs/cartpole-ppo/<run>", episodes=10, gif="cartpole.gif"); out["mean"]
    """
    if episodes < 1:
        raise GradkitError(f"--episodes must be at least 1, got {episodes}")
    agent = load_agent(run_dir, checkpoint)
    seed = agent.seed if seed is None else seed
    returns = evaluate_agent(agent, episodes, seed)
    threshold = agent.spec["reward_threshold"]
    out = {"env": agent.env_id, "algo": agent.algo, "seed": seed, "returns": returns.tolist(),
           "mean": float(returns.mean()), "std": float(returns.std()), "threshold": threshold,
           "solved": None if threshold is None else bool(returns.mean() >= threshold), "gif": None}
    if gif is not None:
        fps = render_fps(agent.env_id)
        frames, counts = episode_frames(agent, seed, stride=gif_stride(fps))
        out["gif"] = write_gif(frames, gif, fps=fps, counts=counts)
    return out


def write_episode_gif(run_dir: Path, max_frames: int = 300) -> str | None:
    """artifacts/episode.gif of the best checkpoint for the report; the reason when it cannot be made.

    Never raises: an animation is a nicety, and a finished run must not fail for it.
    """
    try:
        agent = load_agent(run_dir, "best")
        fps = render_fps(agent.env_id)
        frames, counts = episode_frames(agent, max_frames=max_frames, stride=gif_stride(fps))
        write_gif(frames, run_dir / "artifacts" / "episode.gif", fps=fps, counts=counts)
    except Exception as exc:  # missing pygame, no display backend, an env without rgb_array
        return str(exc) if isinstance(exc, GradkitError) else f"{type(exc).__name__}: {exc}"
    return None
