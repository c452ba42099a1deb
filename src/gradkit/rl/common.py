"""What PPO and DQN share: the common config keys, the MLP, evaluation, and the `Session`
that owns evaluation cadence, metrics, checkpoints and resume so the algorithm files hold
only their loop."""
from __future__ import annotations

import random
import time
from typing import Any, Callable, Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn

from gradkit.config import Section, Widths
from gradkit.rl.envs import RunningMeanStd, finished_episodes, make_env
from gradkit.rundir import RunDir
from gradkit import checkpoint
from gradkit.track import Tracker

Policy = Callable[[np.ndarray], np.ndarray]  # raw observations (N, *obs_shape) -> actions (N, ...)
EVAL_SEED = 10_000  # evaluation episodes start from seeds EVAL_SEED + seed*1000 + i, never trained on


class RLCommon(Section):
    """Keys every algorithm reads; each algorithm's config adds its own."""

    algo: str  # a registered algorithm (gradkit.rl.ALGOS), checked before this schema
    env: str = "CartPole-v1"  # any registered Gymnasium id with flat observations
    n_envs: int = Field(8, ge=1)  # environments stepped together
    # auto: native where Gymnasium has a batched env (CartPole) and 5 or more envs step together
    # (below that sync is faster), else sync; async: one process per env (worth it for slow
    # envs); see gradkit/rl/envs.py
    vector: Literal["auto", "native", "sync", "async"] = "auto"
    total_steps: int = Field(100_000, ge=1)  # environment steps, summed over envs
    eval_every: int = Field(10_000, ge=1)  # environment steps between evaluations
    eval_episodes: int = Field(20, ge=1)  # deterministic episodes per evaluation
    stop_on_solve: bool = True  # finish when the evaluation mean reaches the threshold
    solve_threshold: float | None = None  # None: the env's spec.reward_threshold (if it has one)
    normalize_obs: bool = False  # running mean/std normalisation, saved in checkpoints
    hidden: Widths = [64, 64]  # the MLP's layers; after an image torso's convolutions, its FC layers
    threads: int = Field(1, ge=1)  # small MLPs on CPU run fastest on one thread
    # what reads the observations (gradkit/rl/torsos.py): auto picks an MLP for flat vectors,
    # `nature` (Nature DQN) for Atari-sized frames, `minatar` for small grids
    torso: Literal["auto", "mlp", "nature", "minatar"] = "auto"
    channels: Widths | None = None  # an image torso's convolution widths (None: the torso's own)
    clip_reward: bool = False  # train on sign(reward) (Atari); evaluation reports raw game scores


def adam(params: list[nn.Parameter], **kwargs: Any) -> torch.optim.Adam:
    """Adam, fused (one kernel for all parameters) where torch has the kernel for their device:
    a DQN gradient step on a 64x64 MLP spends ~50 us in the fused step against ~200 us in the
    per-tensor loop (CPU, 1 thread)."""
    params = list(params)
    try:
        return torch.optim.Adam(params, fused=True, **kwargs)
    except RuntimeError:  # a device or dtype without the fused kernel
        return torch.optim.Adam(params, **kwargs)


def mlp(sizes: list[int], activation: type[nn.Module] = nn.Tanh, out_gain: float = 1.0) -> nn.Sequential:
    """Linear layers with orthogonal init (as in the PPO implementation details, Huang et al. 2022)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = i == len(sizes) - 2
        linear = nn.Linear(a, b)
        nn.init.orthogonal_(linear.weight, out_gain if last else np.sqrt(2))
        nn.init.zeros_(linear.bias)
        layers += [linear] if last else [linear, activation()]
    return nn.Sequential(*layers)


def run_episodes(env_id: str, n: int, seed: int, policy: Policy | None) -> np.ndarray:
    """The returns of `n` episodes played side by side from fixed seeds; `policy=None` acts randomly.

    Episode i starts from seed EVAL_SEED + seed*1000 + i, so a plain `make_env(env_id)` reset with
    that seed replays it (a native vector env has one RNG for all). Only unfinished episodes step
    and reach the policy: a vector env would step every env until the longest episode ends, twice
    the env steps for a CartPole policy whose episodes last 250 steps on average. Random actions
    come from the batched action space seeded with EVAL_SEED + seed, drawn for all `n` envs at
    every step, as a vector env would.
    """
    from gymnasium.vector.utils import batch_space

    envs = [make_env(env_id) for _ in range(n)]
    obs = np.stack([env.reset(seed=EVAL_SEED + seed * 1000 + i)[0] for i, env in enumerate(envs)])
    space = batch_space(envs[0].action_space, n)
    space.seed(EVAL_SEED + seed)
    returns = np.zeros(n)
    live = list(range(n))
    while live:
        actions = space.sample()[live] if policy is None else policy(obs[live])
        still = []
        for i, action in zip(live, actions):
            obs[i], reward, terminated, truncated, _ = envs[i].step(action)
            returns[i] += reward
            if not (terminated or truncated):
                still.append(i)
        live = still
    for env in envs:
        env.close()
    return returns


def rng_state() -> dict[str, Any]:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


class Session:
    """One RL run's bookkeeping: episode statistics, evaluation, metrics.jsonl, checkpoints.

    The algorithm calls `record(info)` after each env step and `evaluate(...)` when `due(step)`;
    on resume, `restored` holds the last checkpoint for the algorithm to load its parts from.
    Each evaluation's record also goes to `tracker` (gradkit.track), x = environment steps.
    """

    def __init__(self, rl: RLCommon, seed: int, run: RunDir, spec: dict[str, Any],
                 resume: dict[str, Any] | None, verbose: bool, tracker: Tracker | None = None) -> None:
        self.rl, self.seed, self.run, self.verbose, self.restored = rl, seed, run, verbose, resume
        self.tracker = tracker
        self.threshold = rl.solve_threshold if rl.solve_threshold is not None else spec["reward_threshold"]
        self.rms = RunningMeanStd(tuple(spec.get("obs_shape", (spec["obs_dim"],))))
        self.image = bool(spec.get("image"))
        self.episodes: list[tuple[float, int]] = []
        if resume is None:
            self.step, self.elapsed, self.next_eval, self.best = 0, 0.0, rl.eval_every, -np.inf
            self.solved: dict[str, float] | None = None
            self.baseline = float(run_episodes(rl.env, rl.eval_episodes, seed, None).mean())
            self.history: list[dict[str, Any]] = []
            self.phases: dict[str, float] = {}
        else:
            self.step, self.elapsed = resume["global_step"], resume["elapsed"]
            self.next_eval, self.best = resume["next_eval"], resume["best_return"]
            self.solved, self.baseline = resume["solved"], resume["baseline"]
            self.history = run.history()
            self.rms.load_state_dict(resume["obs_rms"])
            set_rng_state(resume["rng"])
            self.phases = dict(resume.get("phases") or {})  # checkpoints before the profile: none
        self.start_clock()

    def start_clock(self) -> None:
        """(Re)start the training clock, continuing from `elapsed` on resume. The algorithm calls it
        once its networks, optimiser and envs exist: like Stable-Baselines3's `learn()`, the
        seconds count training, not set-up (the first optimiser's lazy imports cost ~2 s)."""
        self.started = time.perf_counter() - self.elapsed
        self._lap = time.perf_counter()

    def lap(self, phase: str) -> None:
        """Charge the seconds since the last lap to `phase`: the loop calls it after acting
        ("act"), stepping the envs and storing ("env") and learning ("update"); `evaluate`
        charges "evaluation" and "checkpoint" (metrics, checkpoints). Finals: time/<phase>."""
        now = time.perf_counter()
        self.phases[phase] = self.phases.get(phase, 0.0) + now - self._lap
        self._lap = now

    def observe(self, obs: np.ndarray) -> np.ndarray:
        """Observations as the networks see them: normalised when rl.normalize_obs; images as
        the env gives them (uint8 or bool: the torso scales them, buffers stay compact)."""
        if self.image:
            return obs
        return self.rms.normalize(obs) if self.rl.normalize_obs else obs.astype(np.float32)

    def record(self, info: dict) -> None:
        self.episodes += finished_episodes(info)

    def due(self, step: int) -> bool:
        return step >= self.next_eval or step >= self.rl.total_steps

    def evaluate(self, step: int, policy: Policy, scalars: dict[str, float],
                 state: Callable[[], dict[str, Any]]) -> bool:
        """Evaluate, log one metrics record, checkpoint; True when the run should stop."""
        self.step, self.elapsed = step, time.perf_counter() - self.started
        self.lap("update")  # the loop's bookkeeping since its last lap
        returns = run_episodes(self.rl.env, self.rl.eval_episodes, self.seed, policy)
        self.lap("evaluation")
        mean = float(returns.mean())
        record = {"step": step, "wall_seconds": round(self.elapsed, 3),
                  "eval/mean_return": mean, "eval/std_return": float(returns.std()),
                  "baseline/random_mean_return": self.baseline}
        if self.episodes:
            record["rollout/episodic_return"] = float(np.mean([r for r, _ in self.episodes]))
            record["rollout/episodic_length"] = float(np.mean([n for _, n in self.episodes]))
            record["rollout/episodes"] = len(self.episodes)
        record.update(scalars)
        self.episodes = []
        if self.solved is None and self.threshold is not None and mean >= self.threshold:
            self.solved = {"step": step, "seconds": round(self.elapsed, 3)}
        self.history.append(record)
        self.run.write_metrics_history(self.history)
        if self.tracker is not None:
            self.tracker.log_metrics(record, step)
        while self.next_eval <= step:
            self.next_eval += self.rl.eval_every
        improved = mean > self.best
        self.best = max(self.best, mean)
        full = {**state(), "global_step": step, "elapsed": self.elapsed, "next_eval": self.next_eval,
                "best_return": self.best, "solved": self.solved, "baseline": self.baseline,
                "obs_rms": self.rms.state_dict(), "rng": rng_state(), "kind": "rl", "algo": self.rl.algo,
                "phases": self.phases}
        checkpoint.save(self.run.last, full)
        if improved:
            checkpoint.save(self.run.best, full)
        self.lap("checkpoint")
        if self.verbose:
            ep = record.get("rollout/episodic_return")
            print(f"gradkit: step {step:>8}  eval {mean:8.1f} ± {record['eval/std_return']:.1f}  "
                  f"train episodes {'-' if ep is None else f'{ep:.1f}'}  {self.elapsed:6.1f}s"
                  + ("  solved" if self.solved and self.solved["step"] == step else ""), flush=True)
        return bool(self.solved) and self.rl.stop_on_solve

    def finals(self) -> dict[str, Any]:
        last = self.history[-1] if self.history else {}
        return {"eval/mean_return": last.get("eval/mean_return"),
                "eval/std_return": last.get("eval/std_return"),
                "eval/best_mean_return": None if self.best == -np.inf else self.best,
                "eval/solved": self.solved is not None,
                "eval/threshold": self.threshold,
                "eval/steps_to_solve": self.solved["step"] if self.solved else None,
                "eval/seconds_to_solve": self.solved["seconds"] if self.solved else None,
                "baseline/random_mean_return": self.baseline,
                "train/steps": self.step, "train/seconds": round(self.elapsed, 3),
                # where the training time went (seconds): act, env, update, evaluation, checkpoint
                **{f"time/{k}": round(v, 3) for k, v in self.phases.items()}}
