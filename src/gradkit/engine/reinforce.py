"""A reinforcement-learning run from config to report: the algorithm `rl.algo` names runs its own
loop (gradkit.rl), inside the same run lifecycle as a supervised run (run directory, run.json,
trackers, metrics.json, report), plus an episode GIF of the best checkpoint for the report."""
from __future__ import annotations

from typing import Any

import torch

from gradkit.config import RunConfig
from gradkit.engine import lifecycle
from gradkit.engine.run import RLRun
from gradkit.rundir import Phases, RunDir
from gradkit.training.runtime import seed_everything


def train_agent(cfg: RunConfig, run: RunDir | None = None, resume_state: dict | None = None,
                verbose: bool = True) -> RLRun:
    """Train `cfg.rl` in a new run directory (or continue `run` from `resume_state`)."""
    from gradkit.rl import ALGOS, typed
    from gradkit.rl.common import Session
    from gradkit.rl.envs import describe
    from gradkit.rl.torsos import pick

    phases = Phases()  # run.json `phases`, as a supervised run's (benchmarks/overhead.py)
    rl = typed(cfg.rl)
    torch.set_num_threads(rl.threads)
    seed_everything(cfg.seed, deterministic=False)
    with phases("setup: environment"):
        spec = describe(rl.env)
    if run is None:
        run = lifecycle.create(cfg, "cpu")
    lifecycle.start(run, cfg, spec={"task": "rl", "env": rl.env, "algo": rl.algo,
                                    "action": spec["action"], "obs_dim": spec["obs_dim"],
                                    "n_actions": spec["n_actions"],
                                    "obs_shape": list(spec.get("obs_shape", (spec["obs_dim"],))),
                                    "image": spec.get("image"), "torso": pick(rl.torso, spec)},
                    device="cpu")
    if verbose:
        print(f"gradkit: {cfg.name}: {rl.algo.upper()} on {rl.env} ({rl.n_envs} envs, "
              f"{rl.total_steps} steps), run directory {run.path}", flush=True)
    with lifecycle.tracked(cfg, run, verbose) as tracker:
        with lifecycle.failing(run):
            with phases("baselines"):  # the random policy's evaluation (Session)
                session = Session(rl, cfg.seed, run, spec, resume_state, verbose, tracker=tracker)
            with phases("training"):
                agent = ALGOS.get(rl.algo).train(rl, session, spec, cfg.seed)
        metrics = _finish(cfg, rl, run, session, verbose, phases)
        tracker.finish(run, metrics)
    return RLRun(run.path, cfg, metrics, agent)


def _finish(cfg: RunConfig, rl: Any, run: RunDir, session: Any, verbose: bool,
            phases: Phases) -> dict[str, Any]:
    """Final metrics, run.json, the episode GIF and the report."""
    from gradkit.rl.agent import write_episode_gif

    with lifecycle.failing(run):  # Ctrl-C during the final evaluation: run.json says interrupted
        metrics = session.finals()
        solved = metrics["eval/solved"]
        lifecycle.finish(run, metrics, "solved" if solved else "completed",
                         train_seconds=metrics["train/seconds"], steps=metrics["train/steps"],
                         stop_reason="solved" if solved and rl.stop_on_solve
                         and session.step < rl.total_steps else None)
    if cfg.output.report:
        with phases("episode GIF"):
            skipped = write_episode_gif(run.path)  # artifacts/episode.gif, shown in the report
        run.update_info(episode_gif_skipped=skipped)
        if skipped and verbose:
            print(f"gradkit: no episode animation in the report: {skipped}", flush=True)
        with phases("report"):
            lifecycle.report(run, verbose)
    lifecycle.mark(run, phases=phases.seconds)
    return metrics
