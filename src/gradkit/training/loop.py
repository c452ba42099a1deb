"""The one training loop. Tasks own the step; the loop owns epochs, evaluation, checkpoints,
early stopping, precision, progress, resume and DDP (cf. STYLE.md: "one supervised loop").

Distributed (`dist`, gradkit.distributed), every rank trains on its chunk of each global batch
through DDP and the training metrics are summed over ranks; rank 0 alone validates, saves and
decides (best epoch, early stopping, callbacks), and hands its state to the others each epoch.
"""
from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from gradkit.data import Batches, Dataset, make_batches
from gradkit.data.augment import build_augment
from gradkit.training.distributed import LOCAL, Dist
from gradkit.errors import ConfigError, GradkitError
from gradkit.models.freeze import Transferable
from gradkit import checkpoint
from gradkit.training.gradnorms import ARTIFACT as GRAD_NORMS, GradNorms
from gradkit.training.optim import build_optimizer, build_scheduler, param_groups
from gradkit.training.progress import Progress
from gradkit.training.restore import restore, restore_weights, rng_state
from gradkit.training.tally import StepListener, Tally


class NonFiniteLoss(GradkitError):
    """The loss became NaN or infinite; the run stops and keeps its last good checkpoint."""


@dataclass(frozen=True)
class FitState:
    """What callbacks see (read-only)."""

    epoch: int
    step: int
    metrics: dict[str, float]
    best_epoch: int | None
    best_value: float | None


class Callback(Protocol):
    """Hears about each finished epoch. An optional `every_steps: int` attribute with an
    `on_steps(step, metrics)` method also hears, every that many optimiser steps, the mean
    training metrics (`loss`, ...) of the steps since (read once per call, never per step,
    so a GPU is not synced on every batch)."""

    def on_epoch_end(self, state: FitState) -> bool | str | None:
        """Return True, or the reason as a string, to stop training after this epoch."""


@dataclass
class FitResult:
    epochs_completed: int
    best_epoch: int | None
    best_value: float | None
    stop_reason: str | None
    history: list[dict[str, Any]] = field(default_factory=list)
    train_seconds: float = 0.0


def resolve_precision(precision: str, device: torch.device) -> str:
    """`auto` -> the fastest precision this device computes natively, else the one asked for.

    bf16 on CUDA GPUs that support it (fp16 with a scaler on older ones) and on CPUs with
    native bf16 dot products (AVX512-BF16 or AMX): there, bf16 convolutions in channels-last
    layout train a small CNN ~2.5x faster than fp32 (benchmarks/fashion_cnn.py). CPUs without
    them emulate bf16 slowly, so they stay in fp32.
    """
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if device.type == "cpu" and _cpu_has_native_bf16():
        return "bf16"
    return "fp32"


def _cpu_has_native_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: stay safe
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    precision = resolve_precision(precision, device)
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def lower_is_better(metric: str) -> bool:
    """Losses, errors, perplexity, bits per character and negative ELBO fall; the rest (accuracy,
    F1, R², and `epoch`: monitor=epoch keeps the last epoch, as the GAN recipes do) rises."""
    return any(k in metric for k in ("loss", "mse", "mae", "rmse", "mase", "error", "perplexity",
                                     "bits_per", "nelbo"))


def better(value: float, best: float | None, monitor: str) -> bool:
    if best is None:
        return True
    return value < best if lower_is_better(monitor) else value > best


def evaluate(task, batches: Batches, device: torch.device, precision: str) -> tuple[dict, dict]:
    """Run `eval_step` over every batch in eval mode; returns (scalars, details)."""
    for model in task.models.values():
        model.eval()
    with torch.inference_mode(), autocast(device, precision):
        for batch in batches:
            task.eval_step(batch)
    return task.eval_end()


def in_split_order(values: torch.Tensor | None, batches) -> torch.Tensor | None:
    """Per-example outputs of a pass over `batches`, put back in the split's order (text
    evaluation batches run sorted by length: `batches.order`)."""
    order = getattr(batches, "order", None)
    if values is None or order is None:
        return values
    out = torch.empty_like(values)
    out[order.cpu()] = values
    return out


@torch.inference_mode()
def predict_split(task, split, spec, batch_size: int, device: torch.device,
                  workers: int | None = None) -> torch.Tensor:
    """`task.predict` over a whole split, on the CPU, in the split's order."""
    for model in task.models.values():
        model.eval()
    batches = make_batches(split, spec, batch_size, device, workers=workers)
    return in_split_order(torch.cat([task.predict(x).float().cpu() for x, _ in batches]), batches)


class Stepper:
    """Backward + optimiser step for the task, with precision, clipping and schedules handled."""

    def __init__(self, task, optimizers: dict, schedulers: dict, precision: str,
                 device: torch.device, grad_clip: float | None, dist: Dist = LOCAL) -> None:
        self.task, self.optimizers, self.schedulers = task, optimizers, schedulers
        self.grad_clip = grad_clip
        precision = resolve_precision(precision, device)
        self.scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
        self.step_count = 0
        self.epoch = 0
        self.dist = dist
        self.check_every = 1 if device.type == "cpu" and dist.world == 1 else 32
        # distributed: this rank's share of the global batch x world, so that DDP's average of
        # the ranks' gradients is the gradient of the global batch's mean loss
        self.weight = 1.0
        self.grad_norms: GradNorms | None = None  # output.grad_norms

    def __call__(self, loss: torch.Tensor, name: str) -> None:
        # On CPU reading the loss costs ~2 us; on a GPU it is a device sync, so look every
        # `check_every` steps (the message then names the step it was seen at). Distributed,
        # the ranks agree through one all-reduce, so every 32nd step.
        if self.step_count % self.check_every == 0 and not self.dist.all_finite(loss):
            lr = self.optimizers[name].param_groups[0]["lr"]
            seen = loss.item() if self.dist.world == 1 else "non-finite on some rank"
            raise NonFiniteLoss(
                f"the loss became {seen} at epoch {self.epoch}, step {self.step_count + 1} "
                f"(lr {lr:.3g}). The learning rate is probably too high: try optim.lr={lr / 10:.3g}, "
                "or train.grad_clip=1.0; also check the inputs for NaN.")
        opt = self.optimizers[name]
        if self.weight != 1.0:
            loss = loss * self.weight
        self.scaler.scale(loss).backward()
        norms = self.grad_norms is not None and self.grad_norms.due(self.step_count)
        if self.grad_clip or norms:
            self.scaler.unscale_(opt)  # true gradients, for the record and for clipping
        if norms:
            self.grad_norms.record(name, self.step_count, self.epoch)
        if self.grad_clip:
            params = [p for g in opt.param_groups for p in g["params"]]
            torch.nn.utils.clip_grad_norm_(params, self.grad_clip)
        self.scaler.step(opt)
        self.scaler.update()
        opt.zero_grad(set_to_none=True)
        if self.schedulers.get(name) is not None:
            self.schedulers[name].step()
        self.step_count += 1


def fit(task, data: Dataset, cfg, run=None, device: torch.device | None = None,
        callbacks: Sequence[Callback] = (), resume: dict[str, Any] | None = None,
        verbose: bool = True, dist: Dist = LOCAL) -> FitResult:
    """Train `task` on `data` as `cfg` (a `RunConfig`) says; checkpoint into `run` if given.
    `dist`: this rank of a distributed run (gradkit.distributed.setup); rank 0 passes `run`."""
    device = device or torch.device("cpu")
    tc = cfg.train
    if tc.precision == "fp16" and device.type != "cuda":
        raise ConfigError("train.precision=fp16 needs a CUDA device; use train.precision=bf16 on "
                          f"{device.type}")
    dist.check(task)
    augment = build_augment(cfg.data.augment, data.spec.input_shape)
    train = make_batches(data.train, data.spec, tc.batch_size, device, True, cfg.seed, augment,
                         cfg.data.workers, dist.shard)
    val = make_batches(data.val if len(data.val) else data.test, data.spec, tc.eval_batch_size, device,
                       workers=cfg.data.workers) if dist.main else None
    build = getattr(task, "configure_optimizers", None)
    optimizers = build(cfg.optim) if build else {n: build_optimizer(param_groups(m, cfg.optim), cfg.optim)
                                                 for n, m in task.models.items()}
    schedulers = {n: build_scheduler(o, cfg.optim, len(train), tc.epochs) for n, o in optimizers.items()}
    stepper = Stepper(task, optimizers, schedulers, tc.precision, device, tc.grad_clip, dist)
    state = {"epoch": 0, "best_value": None, "best_epoch": None, "bad_epochs": 0, "history": [],
             "elapsed": 0.0}
    if resume is not None:
        if "optimizers" in resume:
            state = restore(resume, task, optimizers, schedulers, stepper, dist)
        else:  # weights only: best.pt copied over a damaged last.pt
            state = restore_weights(resume, task, run, tc.monitor)
            if dist.main:
                print(f"gradkit: the checkpoint to resume holds weights only (a copy of best.pt?): "
                      f"the weights continue from epoch {state['epoch']}; the optimiser's state, the "
                      "learning-rate schedule, the random streams and early stopping's patience "
                      "start afresh", file=sys.stderr, flush=True)
        if run is not None:
            run.write_metrics_history(state["history"])
    if cfg.output.grad_norms:
        stepper.grad_norms = GradNorms(task.models, cfg.output.grad_norms_every,
                                       state.get("grad_norms"))
    if tc.unfreeze_at_epoch is not None and not any(m.frozen for m in _unfreezable(task)):
        raise ConfigError("train.unfreeze_at_epoch needs a model with a frozen part, e.g. "
                          "model.name=pretrained model.freeze=backbone, or model.name=bert "
                          "model.freeze=encoder")
    progress = Progress(tc.epochs, len(train), verbose and dist.main)
    stop_reason = None
    start = time.perf_counter() - state["elapsed"]
    with contextlib.closing(progress), dist.guard():
        for epoch in range(state["epoch"] + 1, tc.epochs + 1):
            if tc.unfreeze_at_epoch is not None and epoch >= tc.unfreeze_at_epoch:
                for model in _unfreezable(task):
                    model.unfreeze()  # idempotent, so a resumed run gets it too
            record = _train_epoch(task, train, stepper, epoch, device, tc, progress, callbacks, dist)
            rngs = dist.gather(rng_state())  # every rank's, for an exact resume
            if dist.main:
                stop_reason = _end_epoch(state, record, val, device, task, data, cfg, run, stepper,
                                         optimizers, schedulers, callbacks, start, rngs)
                progress.end_epoch(record)
            state, stop_reason = dist.from_main((state, stop_reason))
            if stop_reason:
                break
    return FitResult(state["epoch"], state["best_epoch"], state["best_value"], stop_reason,
                     state["history"], time.perf_counter() - start)


def _end_epoch(state, record, val, device, task, data, cfg, run, stepper, optimizers, schedulers,
               callbacks, start, rngs) -> str | None:
    """Validate, save and decide (rank 0's part of an epoch's end); returns a stop reason."""
    tc = cfg.train
    scalars, _ = evaluate(task, val, device, tc.precision)
    record.update({f"val/{k}": v for k, v in scalars.items()})
    record["time"] = time.perf_counter() - start
    if hasattr(task, "on_epoch_end"):  # e.g. a GAN's sample grid from fixed noise
        task.on_epoch_end(record["epoch"], run)
    state["history"].append(record)
    state["epoch"] = record["epoch"]
    stop_reason = _after_epoch(state, record, tc, task, data, cfg, run, stepper, optimizers,
                               schedulers, callbacks, start, rngs)
    if not stop_reason and tc.time_limit and record["time"] >= tc.time_limit and state["epoch"] < tc.epochs:
        stop_reason = (f"time limit: {record['time']:.0f} s of training reached "
                       f"train.time_limit={tc.time_limit:g} after epoch {state['epoch']}")
    return stop_reason


def _unfreezable(task) -> list[Transferable]:
    return [m for m in task.models.values() if isinstance(m, Transferable)]


def _train_epoch(task, train: Batches, stepper: Stepper, epoch: int, device: torch.device,
                 tc, progress: Progress, callbacks: Sequence[Callback] = (),
                 dist: Dist = LOCAL) -> dict[str, Any]:
    for model in task.models.values():
        model.train()
    train.set_epoch(epoch)
    stepper.epoch = epoch
    progress.start_epoch(epoch)
    tally = Tally()
    listeners = [StepListener(cb, stepper.step_count) for cb in callbacks
                 if getattr(cb, "every_steps", 0)]
    t0 = time.perf_counter()
    with dist.training(task):  # the task's modules in DDP wrappers for this epoch
        for i, (x, y) in enumerate(train, start=1):
            if tc.channels_last and x.dim() == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            if dist.world > 1:
                stepper.weight = len(y) * dist.world / train.global_size(i - 1)
            with autocast(device, tc.precision):
                out = task.train_step((x, y), stepper)
            tally.add(out, len(y))
            for listener in listeners:  # rank 0's shard only: a sample of the global batch
                listener.add(out, len(y), stepper.step_count)
            if progress.live and (i % 25 == 0 or i == len(train)):
                info = "  ".join(f"{k} {v:.4f}" for k, v in tally.means().items())
                progress.update(i, f"{info}  {tally.seen / (time.perf_counter() - t0):.0f} samples/s")
    seconds = time.perf_counter() - t0
    tally.reduce(dist)
    opt = next(iter(stepper.optimizers.values()))
    record: dict[str, Any] = {"epoch": epoch, "step": stepper.step_count,
                              "lr": opt.param_groups[0]["lr"]}
    means = tally.means()
    if not all(math.isfinite(v) for v in means.values()):  # a GPU run checks every 32nd step
        raise NonFiniteLoss(f"a training metric became non-finite during epoch {epoch} "
                            f"({means}); try a lower optim.lr or train.grad_clip=1.0")
    record.update({f"train/{k}": v for k, v in means.items()})
    record["epoch_seconds"] = seconds
    record["samples_per_s"] = tally.seen / max(seconds, 1e-9)
    return record


def _after_epoch(state, record, tc, task, data, cfg, run, stepper, optimizers, schedulers,
                 callbacks, start, rngs) -> str | None:
    """Best/last checkpoints, early stopping and callbacks; returns a stop reason or None."""
    if tc.monitor not in record:
        keys = [k for k in record if k.startswith(("val/", "train/"))]
        from gradkit.errors import did_you_mean

        raise ConfigError(f"train.monitor='{tc.monitor}' is not a metric of this task"
                          f"{did_you_mean(tc.monitor, keys)}; choose one of: {', '.join(keys)}")
    value = record[tc.monitor]
    improved = better(value, state["best_value"], tc.monitor)
    if improved:
        state.update(best_value=value, best_epoch=record["epoch"], bad_epochs=0)
    else:
        state["bad_epochs"] += 1
    state["elapsed"] = time.perf_counter() - start
    if run is not None:
        models = {n: m.state_dict() for n, m in task.models.items()}
        common = {"epoch": record["epoch"], "models": models, "spec": data.spec.to_dict(),
                  "config": cfg.to_dict(), "metrics": record}
        if improved:
            checkpoint.save(run.best, common)
        checkpoint.save(run.last, {
            **common, "step": stepper.step_count, "rng": rng_state(),  # after validation's draws
            **({"rng_ranks": [rng_state(), *rngs[1:]]} if len(rngs) > 1 else {}),
            "optimizers": {n: o.state_dict() for n, o in optimizers.items()},
            "schedulers": {n: s.state_dict() for n, s in schedulers.items() if s is not None},
            "scaler": stepper.scaler.state_dict(),
            **{k: state[k] for k in ("best_value", "best_epoch", "bad_epochs", "history", "elapsed")},
            **({"grad_norms": stepper.grad_norms.records} if stepper.grad_norms is not None else {}),
        })
        run.write_metrics_history(state["history"])
        if stepper.grad_norms is not None:
            run.write_json(GRAD_NORMS, stepper.grad_norms.summary())
    stop = None
    if tc.patience is not None and state["bad_epochs"] >= tc.patience:
        stop = (f"early stopping: {tc.monitor} did not improve for {tc.patience} epochs "
                f"(best {state['best_value']:.4g} at epoch {state['best_epoch']})")
    view = FitState(record["epoch"], stepper.step_count, dict(record), state["best_epoch"],
                    state["best_value"])
    for cb in callbacks:  # every callback hears every epoch, the last one included
        said = cb.on_epoch_end(view)
        if said and stop is None:
            stop = said if isinstance(said, str) else (f"stopped by {type(cb).__name__} after "
                                                       f"epoch {record['epoch']}")
    return stop
