"""Gymnasium environments: vectorised creation, checks with clear errors, observation normaliser.

Observations are flat vectors (CartPole) or images (MinAtar's 10x10xC grids, Atari screens
after `make_env`'s preprocessing); `describe` says which, and the networks pick their torso
from it (gradkit.rl.torsos).

Two kinds of vector environment, one contract for the algorithms:
- `sync` / `async` (any env): an episode that ends is reset *in the same step*
  (`AutoresetMode.SAME_STEP`): the returned observation starts the next episode and
  `info["final_obs"]` holds the last one.
- `native`: the env's own batched implementation (Gymnasium ships one for CartPole: numpy over
  all envs at once, ~5x faster than a loop of 8 envs). It resets on the *next* step
  (`AutoresetMode.NEXT_STEP`): the step that ends an episode returns its true last observation,
  and the following step only resets that env (its action is ignored, reward 0). Such reset
  steps are not transitions: `valid_next()` says which envs' next step is a real one.
`final_obs()` gives the true last observation either way: PPO bootstraps from it on truncation
and DQN stores it as the transition's next observation.
"""
from __future__ import annotations

import difflib
from typing import Any

import numpy as np

from gradkit.errors import ConfigError


def require_gym():
    """The `gymnasium` module, or a clear error saying how to install it."""
    try:
        import gymnasium
    except ImportError:
        raise ConfigError("reinforcement learning needs Gymnasium: pip install 'gradkit[rl]' "
                          "(or pip install 'gymnasium>=1.0')") from None
    return gymnasium


# Gymnasium ids registered by a package: (prefix, module, what to install)
PACKAGES = (("MinAtar/", "minatar", "pip install 'gradkit[rl]' (or pip install minatar)"),
            ("ALE/", "ale_py", "pip install 'gradkit[rl]' (or pip install ale-py: the Atari ROMs "
                               "are inside the wheel)"))
# MinAtar's games have no time limit: a good Breakout agent would play one episode forever
MINATAR_MAX_STEPS = 10_000


def register_packages(env_id: str) -> None:
    """Register the ids of the package `env_id` needs (MinAtar, the Arcade Learning Environment)."""
    import importlib
    import logging

    gym = require_gym()
    for prefix, module, install in PACKAGES:
        if env_id.startswith(prefix) and env_id not in gym.envs.registry:
            try:
                package = importlib.import_module(module)
                if module == "ale_py":
                    gym.register_envs(package)
                    package.ALEInterface.setLoggerMode(package.LoggerMode.Error)  # no banner per env
                else:  # minatar.gym warns on the root logger that seaborn (its palette) is missing
                    logging.disable(logging.WARNING)
                    try:
                        importlib.import_module("minatar.gym").register_envs()
                    finally:
                        logging.disable(logging.NOTSET)
            except ImportError:
                raise ConfigError(f"rl.env={env_id} needs the {module} package: {install}") from None


def check_env_id(env_id: str) -> None:
    """Raise a `ConfigError` naming close registered ids when `env_id` is not registered."""
    gym = require_gym()
    register_packages(env_id)
    ids = list(gym.envs.registry.keys())
    if env_id in ids:
        return
    close = difflib.get_close_matches(env_id, ids, n=5, cutoff=0.5)
    hint = f"; close names: {', '.join(close)}" if close else ""
    raise ConfigError(f"rl.env: unknown Gymnasium environment id '{env_id}'{hint}")


def is_atari(env_id: str) -> bool:
    return env_id.startswith("ALE/")


def make_env(env_id: str, **kwargs: Any):
    """One env as gradkit trains on it: Atari games through Gymnasium's own preprocessing (the
    Nature-DQN pipeline: no-op starts, frame skip 4 with max-pooling, grey 84x84, then the last 4
    frames stacked); every other id as registered."""
    gym = require_gym()
    register_packages(env_id)
    if env_id.startswith("MinAtar/") and "max_episode_steps" not in kwargs:
        kwargs["max_episode_steps"] = MINATAR_MAX_STEPS
    if not is_atari(env_id):
        return gym.make(env_id, **kwargs)
    from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation

    env = gym.make(env_id, frameskip=1, **kwargs)  # AtariPreprocessing skips the frames itself
    return FrameStackObservation(AtariPreprocessing(env, noop_max=30, frame_skip=4, screen_size=84,
                                                    grayscale_obs=True, scale_obs=False), 4)


def image_layout(shape: tuple[int, ...]) -> str | None:
    """"hwc" or "chw" for an image observation's shape (the channel axis is the shortest end),
    "hw" for one grey frame, None for a flat vector."""
    if len(shape) == 2:
        return "hw"
    if len(shape) == 3:
        return "hwc" if shape[-1] < shape[0] else "chw"
    return None


def describe(env_id: str) -> dict[str, Any]:
    """Observations (shape, dtype, image layout), action kind and size, and the reward threshold
    of a registered env, as gradkit makes it (`make_env`)."""
    gym = require_gym()
    check_env_id(env_id)
    try:
        env = make_env(env_id)
    except gym.error.DependencyNotInstalled as exc:  # e.g. LunarLander needs Box2D
        raise ConfigError(f"rl.env={env_id} needs a package that is not installed: {exc} "
                          "(pip install 'gradkit[rl]' brings what the Box2D and Atari "
                          "environments need)") from None
    try:
        obs, act = env.observation_space, env.action_space
        shape = tuple(int(n) for n in getattr(obs, "shape", None) or ())
        layout = image_layout(shape) if isinstance(obs, gym.spaces.Box) else None
        image = layout is not None and (obs.dtype == np.uint8 or obs.dtype == np.bool_)
        if not isinstance(obs, gym.spaces.Box) or not (len(shape) == 1 or image):
            raise ConfigError(f"rl.env={env_id}: observations must be flat vectors (a 1-D Box) or "
                              f"images (an HxWxC, CxHxW or HxW Box of uint8 or bool), got {obs}")
        if isinstance(act, gym.spaces.Discrete):
            kind, n = "discrete", int(act.n)
        elif isinstance(act, gym.spaces.Box) and len(act.shape) == 1:
            kind, n = "continuous", int(act.shape[0])
        else:
            raise ConfigError(f"rl.env={env_id}: actions must be Discrete or a 1-D Box, got {act}")
        low = high = None
        if kind == "continuous":
            low, high = act.low.astype(np.float32), act.high.astype(np.float32)
        return {"obs_dim": int(np.prod(shape)), "obs_shape": shape,
                "obs_dtype": np.dtype(obs.dtype).name, "image": layout if image else None,
                "action": kind, "n_actions": n, "low": low, "high": high,
                "reward_threshold": env.spec.reward_threshold}
    finally:
        env.close()


def has_native(env_id: str) -> bool:
    """True when Gymnasium registers a numpy-batched implementation of `env_id` (CartPole).

    The JAX-based ones (`phys2d/...`) need jax, which gradkit does not install: not counted.
    """
    entry = require_gym().envs.registry[env_id].vector_entry_point
    return entry is not None and "jax" not in str(entry).lower()


# CartPole, 1 thread, microseconds per vector step, native vs sync: 1 env 51 vs 24, 2: 49 vs 30,
# 4: 51 vs 46, 8: 51 vs 78, 16: 55 vs 141 (the native env's fixed numpy cost loses below ~5)
NATIVE_FROM = 5


def make_vec(env_id: str, n_envs: int, vector: str = "auto"):
    """`n_envs` copies of `env_id`, stepped together, recording episode returns and lengths.

    `vector`: `native` (the env's own batched implementation), `sync`, `async`, or `auto`
    (native where the env has one and more than NATIVE_FROM - 1 copies step together, else sync).
    """
    gym = require_gym()
    from gymnasium.vector import AutoresetMode
    from gymnasium.wrappers.vector import RecordEpisodeStatistics

    register_packages(env_id)
    if vector == "auto":
        vector = "native" if has_native(env_id) and n_envs >= NATIVE_FROM else "sync"
    if vector == "native":
        if not has_native(env_id):
            raise ConfigError(f"rl.vector=native: {env_id} has no batched implementation in "
                              "Gymnasium (CartPole has); use rl.vector=auto, sync or async")
        envs = gym.make_vec(env_id, num_envs=n_envs, vectorization_mode="vector_entry_point")
    elif any(env_id.startswith(prefix) for prefix, _, _ in PACKAGES):  # each copy from make_env
        from functools import partial

        cls = gym.vector.AsyncVectorEnv if vector == "async" else gym.vector.SyncVectorEnv
        envs = cls([partial(make_env, env_id)] * n_envs, autoreset_mode=AutoresetMode.SAME_STEP)
    else:
        envs = gym.make_vec(env_id, num_envs=n_envs, vectorization_mode=vector,
                            vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP})
    return RecordEpisodeStatistics(envs)


def valid_next(envs, done: np.ndarray) -> np.ndarray:
    """Which envs' next step is a real transition: all of them, except after an episode's end
    in a `native` (next-step autoreset) vector env, where that step only resets the env."""
    from gymnasium.vector import AutoresetMode

    if envs.metadata.get("autoreset_mode") == AutoresetMode.NEXT_STEP:
        return ~done
    return np.ones_like(done)


def final_obs(next_obs: np.ndarray, info: dict, done: np.ndarray) -> np.ndarray:
    """The true last observation of each env: `info["final_obs"]` where an episode just ended
    (same-step autoreset); a next-step autoreset env returned it as `next_obs` itself."""
    if "final_obs" not in info:
        return next_obs
    out = next_obs.copy()
    for i in np.flatnonzero(done):
        out[i] = info["final_obs"][i]
    return out


def finished_episodes(info: dict) -> list[tuple[float, int]]:
    """(return, length) of every episode that ended in this step."""
    if "episode" not in info:
        return []
    mask = info["_episode"]
    return [(float(r), int(n)) for r, n in zip(info["episode"]["r"][mask], info["episode"]["l"][mask])]


class RunningMeanStd:
    """Mean and variance of a stream of batches (Chan et al.'s parallel update), for normalising.

    >>> rms = RunningMeanStd((4,)); rms.update(batch); rms.normalize(batch)
    """

    def __init__(self, shape: tuple[int, ...], epsilon: float = 1e-4, clip: float = 10.0) -> None:
        self.mean = np.zeros(shape, np.float64)
        self.var = np.ones(shape, np.float64)
        self.count = epsilon  # a tiny prior count avoids dividing by zero before the first batch
        self.clip = clip

    def update(self, batch: np.ndarray) -> None:
        batch = np.asarray(batch, np.float64)
        b_mean, b_var, b_count = batch.mean(0), batch.var(0), batch.shape[0]
        delta = b_mean - self.mean
        total = self.count + b_count
        self.mean = self.mean + delta * b_count / total
        m2 = self.var * self.count + b_var * b_count + delta**2 * self.count * b_count / total
        self.var = m2 / total
        self.count = total

    def normalize(self, obs: np.ndarray) -> np.ndarray:
        z = (obs - self.mean) / np.sqrt(self.var + 1e-8)
        return np.clip(z, -self.clip, self.clip).astype(np.float32)

    def state_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.copy(), "var": self.var.copy(), "count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.mean, self.var = np.asarray(state["mean"]), np.asarray(state["var"])
        self.count = float(state["count"])
