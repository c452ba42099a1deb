"""The learning-rate range test (Smith 2015, "Cyclical Learning Rates", section 3.3; fastai's
`lr_find`): train a fresh model for a few mini-batches while the learning rate grows
exponentially from `start` to `end`, and read a good `optim.lr` off the loss curve.

The sweep stops, as fastai's does, once a bias-corrected exponential moving average of the
loss (beta 0.98) exceeds 4x its minimum, or the loss becomes non-finite. The readings are
taken on a centred moving average instead: over 100 steps spanning 8 decades the causal
average lags the loss by about a decade of lr (on digits-mlp it put the steepest descent at
1.2e-2 where the raw loss falls fastest near 3e-3), a centred one does not. Two readings:
the steepest descent of that curve against log(lr), between the start and its minimum (the
suggestion), and the minimum's lr / 10 (the conservative one).
It is a throwaway run: the model, task and data pipeline of the recipe, one optimiser step
per batch through the loop's `Stepper`, nothing saved but the plot and the numbers.
"""
from __future__ import annotations

import json
import math
import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from gradkit import config as C
from gradkit.errors import ConfigError
from gradkit.rundir import atomic_write, stamp, unique_dir

BETA = 0.98  # smoothing of the loss (fastai)
DIVERGED = 4.0  # stop once the smoothed loss exceeds this multiple of its minimum
SKIP_START = 10  # steps ignored at the start when looking for the steepest descent (fastai)


@dataclass
class LRFind:
    """A range test's outcome: the sweep, the readings, and where its files are."""

    suggestion: float
    steepest: float
    min_loss_lr: float
    lrs: list[float] = field(repr=False)
    losses: list[float] = field(repr=False)
    smoothed: list[float] = field(repr=False)
    stopped: str
    command: str
    dir: Path | None = None


def lr_find(recipe: str | None = None, *, config_file: str | Path | None = None,
            overrides: list[str] | None = None, start: float = 1e-7, end: float = 10.0,
            steps: int = 100, out: str | Path | None = None, verbose: bool = True) -> LRFind:
    """Sweep the learning rate over `steps` mini-batches; write lr_find.png and lr_find.json.

    >>> found = lr_find("digits-mlp")
    >>> found.suggestion, found.command     # 0.0035, 'gradkit train digits-mlp optim.lr=0.0035'
    """
    if not 0 < start < end:
        raise ConfigError(f"--start {start:g} and --end {end:g}: need 0 < start < end")
    if steps < SKIP_START + 5:
        raise ConfigError(f"--steps {steps}: the test needs {SKIP_START + 5} or more mini-batches")
    cfg = _config(recipe, config_file, overrides)
    lrs, losses, stopped = _sweep(cfg, start, end, steps)
    smoothed = centred(np.array(losses)).tolist()
    steepest, min_lr = readings(np.array(lrs), np.array(smoothed))
    found = LRFind(steepest, steepest, min_lr, lrs, losses, smoothed, stopped,
                   _command(recipe, config_file, overrides, steepest))
    found.dir = _write(found, cfg, Path(out) if out else _new_dir(cfg))
    if verbose:
        print(f"gradkit: lr-find {cfg.name}: {len(lrs)} mini-batches, lr {start:g} -> {lrs[-1]:.3g} "
              f"({stopped})\ngradkit: suggested lr {steepest:.3g} (steepest descent of the loss; "
              f"minimum / 10: {min_lr:.3g})\ngradkit: plot {found.dir / 'lr_find.png'}\n"
              f"gradkit: train with it: {found.command}", flush=True)
    return found


def _config(recipe, config_file, overrides) -> C.RunConfig:
    if not recipe and not config_file:
        raise ConfigError("name a recipe (`gradkit recipes` lists them) or pass -c FILE.yaml")
    from gradkit.engine import resolve_runs

    cfg, variants = resolve_runs(recipe, config_file, list(overrides or []))
    if cfg.rl:
        raise ConfigError(f"{cfg.name} is a reinforcement-learning recipe: lr-find sweeps a "
                          "supervised loss over mini-batches; tune rl.lr with gradkit tune")
    if variants or cfg.seeds is not None:
        raise ConfigError(f"{cfg.name} has variants or seeds; run lr-find on one run's config")
    return cfg


def _sweep(cfg: C.RunConfig, start: float, end: float, steps: int
           ) -> tuple[list[float], list[float], str]:
    import gradkit.data
    from gradkit.engine import build
    from gradkit.training.loop import NonFiniteLoss, Stepper, autocast
    from gradkit.training.optim import build_optimizer

    built = build(cfg, distributed=False)
    data, model, task, device = built.data, built.model, built.task, built.device
    if hasattr(task, "configure_optimizers"):
        raise ConfigError(f"task {cfg.task.name} steps several optimisers (a GAN): the range "
                          "test needs one loss and one optimiser")
    opt = build_optimizer(model.parameters(), cfg.optim.model_copy(update={"lr": start}))
    growth = (end / start) ** (1 / (steps - 1))  # lr of step i: start * growth**i
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, growth)
    stepper = Stepper(task, {"model": opt}, {"model": sched}, cfg.train.precision, device, None)
    batches = gradkit.data.make_batches(data.train, data.spec, cfg.train.batch_size, device, True,
                                        cfg.seed, workers=cfg.data.workers)
    lrs, losses, best, avg = [], [], math.inf, 0.0
    model.train()
    for epoch in range(1, steps + 1):  # as many passes over the data as `steps` needs
        batches.set_epoch(epoch)
        for x, y in batches:
            lr = opt.param_groups[0]["lr"]
            try:
                with autocast(device, cfg.train.precision):
                    loss = float(task.train_step((x, y), stepper)["loss"])
            except NonFiniteLoss:
                return lrs, losses, f"the loss became non-finite at lr {lr:.3g}"
            lrs.append(lr)
            losses.append(loss)
            avg = BETA * avg + (1 - BETA) * loss
            smooth = avg / (1 - BETA ** len(losses))
            best = min(best, smooth)
            if smooth > DIVERGED * best and len(losses) > SKIP_START:
                return lrs, losses, f"diverged at lr {lr:.3g} (smoothed loss > {DIVERGED:g}x its minimum)"
            if len(losses) == steps:
                return lrs, losses, f"reached the end lr after {steps} mini-batches"
    return lrs, losses, "ran out of data"  # pragma: no cover (steps epochs always suffice)


def centred(losses: np.ndarray) -> np.ndarray:
    """A centred moving average over ~1/10 of the sweep (odd, >= 3 steps), ends padded."""
    k = max(1, len(losses) // 20)  # half-window
    padded = np.pad(losses, k, mode="edge")
    return np.convolve(padded, np.ones(2 * k + 1) / (2 * k + 1), mode="valid")


def readings(lrs: np.ndarray, smoothed: np.ndarray) -> tuple[float, float]:
    """(steepest descent lr, minimum-loss lr / 10) of a sweep.

    The steepest descent is searched after the first SKIP_START steps (fastai skips them too)
    and up to the minimum: past it the loss only rises.
    """
    low = int(np.argmin(smoothed))
    min_lr = float(lrs[low]) / 10
    first = min(SKIP_START, max(low - 2, 0))
    if low - first < 2:  # the minimum came too early for a slope: fall back to min / 10
        return min_lr, min_lr
    slope = np.gradient(smoothed[first:low + 1], np.log(lrs[first:low + 1]))
    return float(lrs[first + int(np.argmin(slope))]), min_lr


def _command(recipe, config_file, overrides, lr: float) -> str:
    kept = [o for o in overrides or [] if o.split("=")[0].strip() != "optim.lr"]
    parts = ["gradkit", "train"] + ([recipe] if recipe else []) + (
        ["-c", str(config_file)] if config_file else []) + kept + [f"optim.lr={lr:.3g}"]
    return " ".join(shlex.quote(p) for p in parts)


def _new_dir(cfg: C.RunConfig) -> Path:
    return unique_dir(Path(cfg.output.dir) / cfg.name, f"lr-find-{stamp()}")


def _write(found: LRFind, cfg: C.RunConfig, path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    record = {k: v for k, v in asdict(found).items() if k != "dir"}
    record["config"] = cfg.to_dict()
    atomic_write(path / "lr_find.json", json.dumps(record, indent=2) + "\n")
    atomic_write(path / "lr_find.png", _plot(found, cfg))
    return path


def _plot(found: LRFind, cfg: C.RunConfig) -> bytes:
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.plot(found.lrs, found.losses, color="#1f77b4", alpha=0.3, lw=1, label="loss per mini-batch")
    ax.plot(found.lrs, found.smoothed, color="#1f77b4", lw=2, label="smoothed loss")
    ax.axvline(found.steepest, color="#d62728", ls="--", label=f"suggested {found.steepest:.3g} (steepest)")
    ax.axvline(found.min_loss_lr, color="#7f7f7f", ls=":", label=f"minimum / 10: {found.min_loss_lr:.3g}")
    ax.axvline(cfg.optim.lr, color="#2ca02c", ls="-.", lw=1, label=f"recipe's lr {cfg.optim.lr:.3g}")
    top = min(max(found.smoothed[:SKIP_START + 1]) * 1.5, max(found.losses))
    ax.set(xscale="log", xlabel="learning rate", ylabel="training loss",
           title=f"{cfg.name}: learning-rate range test ({cfg.optim.name})",
           ylim=(min(found.smoothed) * 0.9 if min(found.smoothed) > 0 else None, top))
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return buf.getvalue()
