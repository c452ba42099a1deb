"""What a checkpoint brings back into a training loop: the random streams, and a run's state
from `last.pt` (weights, optimisers, schedulers, loss scaler, step, history) or, from a
weights-only copy of `best.pt`, what can be (weights, epoch, history)."""
from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from gradkit.training.distributed import LOCAL, Dist


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])



def restore_weights(ckpt, task, run, monitor: str) -> dict[str, Any]:
    """A best.pt-style checkpoint (models, epoch, that epoch's metrics): the weights, the epoch
    count and the history up to that epoch; nothing else can be restored from it."""
    for name, model in task.models.items():
        model.load_state_dict(ckpt["models"][name])
    epoch = int(ckpt["epoch"])
    history = [r for r in (run.history() if run is not None else []) if r.get("epoch", 0) <= epoch]
    if not history or history[-1].get("epoch") != epoch:
        history = [*history, ckpt.get("metrics", {"epoch": epoch})]
    value = (ckpt.get("metrics") or {}).get(monitor)
    return {"epoch": epoch, "best_value": value, "best_epoch": epoch if value is not None else None,
            "bad_epochs": 0, "history": history,
            "elapsed": float(sum(r.get("epoch_seconds", 0.0) for r in history))}


def restore(ckpt, task, optimizers, schedulers, stepper, dist: Dist = LOCAL) -> dict[str, Any]:
    for name, model in task.models.items():
        model.load_state_dict(ckpt["models"][name])
    for name, opt in optimizers.items():
        opt.load_state_dict(ckpt["optimizers"][name])
    for name, sched in schedulers.items():
        if sched is not None:
            sched.load_state_dict(ckpt["schedulers"][name])
    stepper.scaler.load_state_dict(ckpt["scaler"])
    stepper.step_count = ckpt["step"]
    ranks = ckpt.get("rng_ranks") or [ckpt["rng"]]
    set_rng_state(ranks[dist.rank] if len(ranks) == dist.world else ckpt["rng"])
    if len(ranks) != dist.world and dist.rank:  # resumed on another world size: own streams
        torch.manual_seed(int(torch.randint(2**62, (1,))) + dist.rank)
    return {k: ckpt[k] for k in ("epoch", "best_value", "best_epoch", "bad_epochs", "history", "elapsed",
                                 "grad_norms") if k in ckpt}
