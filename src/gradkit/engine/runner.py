"""Run one resolved config, whatever its kind, and continue a stopped run.

    execute(cfg)          a supervised run (gradkit.engine.supervised) or, with an `rl:`
                          section, an RL run (gradkit.engine.reinforce)
    resume(run_dir)       continue a run from checkpoints/last.pt with exactly its saved config

Federated runs are Flower's to drive (`gradkit.federated`), and variants are several runs
(`gradkit.variants`): both are above the engine and call it for each run they make.
"""
from __future__ import annotations

import sys

from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import torch

from gradkit import checkpoint
from gradkit.config import RunConfig
from gradkit.engine.reference import for_fid
from gradkit.engine.reinforce import train_agent
from gradkit.engine.configs import load_file
from gradkit.engine.run import RLRun, Run
from gradkit.engine.supervised import run_supervised
from gradkit.errors import GradkitError
from gradkit.rundir import RunDir
from gradkit.training import Callback
from gradkit.training.distributed import is_main_process


def execute(cfg: RunConfig, *, model: torch.nn.Module | None = None, data: Any = None,
            run: RunDir | None = None, resume_state: dict | None = None, verbose: bool = True,
            callbacks: Sequence[Callback] = ()) -> Run | RLRun:
    """Train `cfg` in a new run directory (or `run`, continued from `resume_state`) and write
    every artifact of the run directory; a `Run`, or an `RLRun` for a config with `rl:`.

    `model`, `data`: your own module and data set (gk.fit). `callbacks` join the supervised
    loop's (e.g. a tuning trial's pruner); the trackers `output.track` names get the config,
    every epoch, the final metrics and the run's files.
    """
    if cfg.federated is not None:  # Flower's simulation drives it: gradkit.federated
        raise GradkitError(f"'{cfg.name}' is a federated run: Flower's simulation trains the "
                           "recipe's own model from the start (gradkit federated, or gk.train); it "
                           "cannot be resumed or given a module, data or callbacks")
    if cfg.rl:  # reinforcement learning has its own loops (gradkit/rl), not `fit`
        if callbacks:
            raise GradkitError("callbacks hear the supervised loop's epochs; an RL run has none")
        return train_agent(cfg, run=run, resume_state=resume_state, verbose=verbose)
    return run_supervised(cfg, model=model, data=data, run=run, resume_state=resume_state,
                          verbose=verbose, callbacks=callbacks,
                          fid_classifier=partial(for_fid, verbose=verbose))


def resume(run_dir: str | Path, verbose: bool = True) -> Run | RLRun:
    """Continue a run from `checkpoints/last.pt` with exactly its saved config.

    Temp files a killed process left are removed first. A run killed in its first epoch (no
    last.pt yet) starts again from scratch in the same directory, with the same config and seed.
    """
    run = RunDir.existing(run_dir)
    cfg = load_file(run.config_path)
    if is_main_process():  # the other ranks of a torchrun resume leave rank 0's files alone
        note = run.claim()  # the one writer, before anything is touched; a second one is refused
        if note:
            print(f"gradkit: {run.path}: {note}", file=sys.stderr, flush=True)
        run.clean_temp()
    try:
        state = checkpoint.load(run.last) if run.last.is_file() else None
    except BaseException:
        run.release()
        raise
    if state is None and verbose and is_main_process():
        print(f"gradkit: {run.path} has no checkpoints/last.pt yet (it stopped in its first "
              "epoch): training it from the start", flush=True)
    return execute(cfg, run=run, resume_state=state, verbose=verbose)
