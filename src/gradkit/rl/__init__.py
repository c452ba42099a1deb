"""Reinforcement learning on Gymnasium: PPO and DQN as explicit loops (not the supervised `fit`).

A config with an `rl:` section is an RL run: `gradkit train cartpole-ppo`, `gk.train("cartpole-dqn")`
(the engine runs it: gradkit.engine.reinforce). `rl.algo` picks the algorithm, registered
beside its loop with `@register(name, config, policy)` on its `train(cfg, session, spec, seed)`;
its typed config (`PPOConfig`, `DQNConfig`) validates the rest of the section, `policy`
builds the network that acts (what a checkpoint's agent is loaded into) and `act` turns its
outputs into actions.
A finished run's agent: `gradkit.rl.load_agent(run_dir)`, or `gradkit play RUN_DIR` (agent.py).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from gradkit.errors import ConfigError
from gradkit.registry import Registry


@dataclass(frozen=True)
class Algorithm:
    config: type  # its typed config (a pydantic Section)
    train: Callable[..., Any]  # (config, Session, env spec, seed) -> the trained network
    policy: Callable[..., tuple[str, Any]]  # (config, env spec) -> (checkpoint name, network that acts)
    act: Callable[..., Any]  # (Agent, observations (N, obs_dim), deterministic) -> env actions (N, ...)
    actions: tuple[str, ...] = ("discrete", "continuous")  # the action spaces it can act in
    check: Callable[..., None] | None = None  # (config, env spec, source): refusals needing the env


ALGOS: Registry[Algorithm] = Registry("RL algorithm")


def register(name: str, config: type, policy: Callable[..., tuple[str, Any]],
             act: Callable[..., Any], actions: tuple[str, ...] = ("discrete", "continuous"),
             check: Callable[..., None] | None = None) -> Callable:
    """Decorator: `@register("ppo", PPOConfig, policy, act)` on the algorithm's `train`."""

    def decorator(train: Callable[..., Any]) -> Callable[..., Any]:
        ALGOS.register(name, Algorithm(config, train, policy, act, actions, check))
        return train

    return decorator


def validate_rl(raw: dict[str, Any], source: str) -> dict[str, Any]:
    """The `rl:` section validated by its algorithm's config, with every default filled in."""
    from gradkit.config import format_validation_error
    from gradkit.rl import torsos
    from gradkit.rl.envs import describe

    raw = dict(raw)
    if "algo" not in raw:
        raise ConfigError(f"invalid config ({source}): rl.algo is required "
                          f"({' or '.join(ALGOS.names())})")
    algo = ALGOS.get(str(raw["algo"]), key="rl.algo")
    try:
        cfg = algo.config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, algo.config, source, prefix="rl")) from None
    spec = describe(cfg.env)
    action = spec["action"]
    torsos.check(cfg, spec, source)
    if algo.check is not None:
        algo.check(cfg, spec, source)
    if action not in algo.actions:
        able = [n for n in ALGOS.names() if action in ALGOS.get(n).actions]
        raise ConfigError(f"invalid config ({source}): rl.algo={cfg.algo} needs "
                          f"{' or '.join(algo.actions)} actions but {cfg.env} has {action} ones; "
                          f"use rl.algo={' or '.join(able)}")
    return cfg.model_dump(mode="json")


def typed(rl: dict[str, Any]) -> Any:
    """A resolved `rl:` section as its algorithm's typed config."""
    return ALGOS.get(rl["algo"], key="rl.algo").config.model_validate(rl)


def __getattr__(name: str):
    if name in ("Agent", "load_agent", "play"):
        from gradkit.rl import agent

        return getattr(agent, name)
    raise AttributeError(f"module 'gradkit.rl' has no attribute '{name}'")


# Importing the algorithms registers them.
from gradkit.rl import dqn, ppo  # noqa: E402,F401

__all__ = ["ALGOS", "Algorithm", "load_agent", "play", "register", "typed", "validate_rl"]
