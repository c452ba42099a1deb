"""Reinforcement learning on Gymnasium: PPO and DQN as explicit loops (not the supervised `fit`).

A config with an `rl:` section is an RL run: `gradkit train cartpole-ppo`, `gk.train("cartpole-dqn")`.
`rl.algo` picks the algorithm, whose typed config (`PPOConfig`, `DQNConfig`) validates the rest.
A finished run's agent: `gradkit.rl.load_agent(run_dir)`, or `gradkit play RUN_DIR` (see `agent.py`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gradkit.errors import ConfigError, did_you_mean

ALGOS = ("ppo", "dqn")
_AGENT_API = ("Agent", "load_agent", "play")


def __getattr__(name: str):
    if name in _AGENT_API:  # lazily: importing gradkit.rl must not import torch
        from gradkit.rl import agent

        return getattr(agent, name)
    raise AttributeError(f"module 'gradkit.rl' has no attribute '{name}'")


def _algo(name: str):
    """(config class, train function) of an algorithm, imported on first use."""
    if name == "ppo":
        from gradkit.rl import ppo

        return ppo.PPOConfig, ppo.train
    if name == "dqn":
        from gradkit.rl import dqn

        return dqn.DQNConfig, dqn.train
    raise ConfigError(f"rl.algo: unknown algorithm '{name}'{did_you_mean(name, ALGOS)}; "
                      f"choose one of {', '.join(ALGOS)}")


def validate_rl(raw: dict[str, Any], source: str) -> dict[str, Any]:
    """The `rl:` section validated by its algorithm's config, with every default filled in."""
    from gradkit.config_errors import format_validation_error
    from gradkit.rl.envs import describe

    raw = dict(raw)
    if "algo" not in raw:
        raise ConfigError(f"invalid config ({source}): rl.algo is required ({' or '.join(ALGOS)})")
    schema, _ = _algo(str(raw["algo"]))
    try:
        cfg = schema.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, schema, source, prefix="rl")) from None
    spec = describe(cfg.env)
    if cfg.algo == "dqn" and spec["action"] != "discrete":
        raise ConfigError(f"invalid config ({source}): rl.algo=dqn needs discrete actions but "
                          f"{cfg.env} has continuous ones; use rl.algo=ppo")
    return cfg.model_dump(mode="json")


@dataclass
class RLRun:
    """A finished RL run: its directory, config, final metrics and trained network."""

    dir: Path
    config: Any
    metrics: dict[str, Any]
    agent: Any = field(repr=False)


def run(cfg, run=None, resume_state: dict | None = None, verbose: bool = True) -> RLRun:
    """Train `cfg.rl` in a new run directory (or continue `run` from `resume_state`)."""
    import torch

    from gradkit import config as C
    from gradkit.training.runtime import seed_everything
    from gradkit.rl.common import Session
    from gradkit.rl.envs import describe
    from gradkit.rundir import RunDir, environment
    from gradkit.track import open_trackers

    schema, train = _algo(cfg.rl["algo"])
    rl = schema.model_validate(cfg.rl)
    torch.set_num_threads(rl.threads)
    seed_everything(cfg.seed, deterministic=False)
    spec = describe(rl.env)
    if run is None:
        run = RunDir.create(cfg.name, cfg.seed, cfg.output.dir, cfg.output.run_dir)
        run.write_text("config.yaml", C.dump(cfg))
        run.write_json("env.json", environment("cpu"))
    run.update_info(name=cfg.name, status="running", started=time.strftime("%Y-%m-%dT%H:%M:%S"),
                    finished=None, spec={"task": "rl", "env": rl.env, "algo": rl.algo,
                                         "action": spec["action"], "obs_dim": spec["obs_dim"],
                                         "n_actions": spec["n_actions"]},
                    device="cpu", error=None)
    if verbose:
        print(f"gradkit: {cfg.name}: {rl.algo.upper()} on {rl.env} ({rl.n_envs} envs, "
              f"{rl.total_steps} steps), run directory {run.path}", flush=True)
    with open_trackers(cfg, run, verbose) as tracker:  # an exception marks tracked runs failed
        tracker.log_params(cfg)
        try:
            session = Session(rl, cfg.seed, run, spec, resume_state, verbose, tracker=tracker)
            agent = train(rl, session, spec, cfg.seed)
        except BaseException as exc:
            run.update_info(status="interrupted" if isinstance(exc, KeyboardInterrupt) else "failed",
                            error=f"{type(exc).__name__}: {exc}")
            raise
        metrics = _finish(cfg, rl, run, session, verbose)
        tracker.finish(run, metrics)
    return RLRun(run.path, cfg, metrics, agent)


def _finish(cfg, rl, run, session, verbose: bool) -> dict[str, Any]:
    """Final metrics, run.json, the episode GIF and the report."""
    metrics = session.finals()
    run.write_json("metrics.json", metrics)
    run.update_info(status="solved" if metrics["eval/solved"] else "completed",
                    finished=time.strftime("%Y-%m-%dT%H:%M:%S"), train_seconds=metrics["train/seconds"],
                    steps=metrics["train/steps"], stop_reason="solved" if metrics["eval/solved"]
                    and rl.stop_on_solve and session.step < rl.total_steps else None)
    if cfg.output.report:
        from gradkit.api import _report
        from gradkit.rl.agent import write_episode_gif

        skipped = write_episode_gif(run.path)  # artifacts/episode.gif, shown in the report
        run.update_info(episode_gif_skipped=skipped)
        if skipped and verbose:
            print(f"gradkit: no episode animation in the report: {skipped}", flush=True)

        _report(run, verbose)
    return metrics
