"""A supervised run from config to report: build, train with the one loop, then reload the best
checkpoint, measure it on val and test, let the task write its artifacts, write metrics.json
and the report. Under torchrun every rank trains its shard; rank 0 alone writes.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import torch

from gradkit import checkpoint
from gradkit.artifacts import Ending
from gradkit.config import RunConfig
from gradkit.data import Dataset, make_batches
from gradkit.engine import lifecycle
from gradkit.engine.builder import build
from gradkit.engine.run import Run
from gradkit.errors import GradkitError, StorageError
from gradkit.rundir import Phases, RunDir
from gradkit.training import Callback, NonFiniteLoss, evaluate, fit, in_split_order
from gradkit.training.loop import resolve_precision


def run_supervised(cfg: RunConfig, *, model: torch.nn.Module | None = None, data: Dataset | None = None,
                   run: RunDir | None = None, resume_state: dict | None = None, verbose: bool = True,
                   callbacks: Sequence[Callback] = (), fid_classifier: Callable | None = None) -> Run:
    """Train `cfg` (a new run directory, or `run` continued from `resume_state`) and return the
    finished run. `model`, `data`: the caller's own (gk.fit); `callbacks` join the loop's (a
    tuning trial's pruner); `fid_classifier`: what a generative task's FID is scored with."""
    phases = Phases()
    with phases("setup: data, model, task"):
        built = build(cfg, model, data)
    dist, device = built.dist, built.device
    if run is None and dist.main:
        run = lifecycle.create(cfg, device)
    if not dist.main:  # ranks > 0 train their shards and write nothing; run.metrics stays {}
        path = dist.from_main(None) if resume_state is None else run.path
        fit(built.task, built.data, cfg, None, device, resume=resume_state, verbose=False, dist=dist)
        return Run(path, cfg, built.data.spec, built.model, built.task, {}, device)
    if dist.world > 1 and resume_state is None:
        dist.from_main(str(run.path))
    data = built.data
    lifecycle.start(run, cfg, spec=data.spec.summary(), custom_model=_custom(built),
                    n_params=sum(p.numel() for p in built.model.parameters()), device=str(device),
                    weights_source=getattr(built.model, "source", None),  # pretrained: where from
                    precision=resolve_precision(cfg.train.precision, device),
                    monitor=cfg.train.monitor, data_source=data.source, data_notes=data.notes,
                    world_size=dist.world,
                    samples={"train": len(data.train), "val": len(data.val), "test": len(data.test)})
    if verbose:
        print(f"gradkit: {cfg.name} on {data.name} ({len(data.train)} train examples), "
              f"{device}{f' x {dist.world} ranks' if dist.world > 1 else ''}, run directory {run.path}",
              flush=True)
        for line in data.notes:
            print(f"gradkit: data: {line}", flush=True)
    with lifecycle.tracked(cfg, run, verbose) as tracker:
        with phases("training"):
            result = _fit(built, cfg, run, resume_state, verbose,
                          [*callbacks, *tracker.callbacks(cfg.output.track_every)])
        try:
            out = _finish(built, cfg, run, result, verbose, fid_classifier, phases)
        except StorageError as exc:
            raise lifecycle.stopped(run, exc) from None
        tracker.finish(run, out.metrics)
    return out


def _custom(built) -> dict | None:
    """What run.json keeps of a user's own module (gradkit.models.custom), None for a recipe's."""
    if not built.custom:
        return None
    from gradkit.models.custom import describe

    info = describe(built.user_model)
    if built.model is not built.user_model:  # wrapped for its task (gradkit.models.adapters)
        info["adapter"] = {"name": built.model.name, "settings": built.model.settings}
    return info


def _fit(built, cfg: RunConfig, run: RunDir, resume_state, verbose: bool, callbacks):
    try:
        with lifecycle.failing(run):
            return fit(built.task, built.data, cfg, run, built.device, callbacks,
                       resume=resume_state, verbose=verbose, dist=built.dist)
    except NonFiniteLoss as exc:
        lifecycle.mark(run, error=str(exc))
        kept = f"; last good checkpoint: {run.last}" if run.last.is_file() else ""
        raise GradkitError(f"{exc}\n  Run directory: {run.path}{kept}") from None


def _finish(built, cfg: RunConfig, run: RunDir, result, verbose: bool,
            fid_classifier: Callable | None, phases: Phases) -> Run:
    """Reload the best checkpoint, compute the final metrics, write them and the report."""
    task, device = built.task, built.device
    with lifecycle.failing(run):  # Ctrl-C during the final evaluation: run.json says interrupted
        with phases("final evaluation"):
            best = checkpoint.load(run.best, device)
            for name, module in task.models.items():
                module.load_state_dict(best["models"][name])
        metrics = final_metrics(task, built.data, cfg, run, device, verbose, fid_classifier, phases)
        lifecycle.finish(run, metrics, "stopped_early" if result.stop_reason else "completed",
                         epochs_completed=result.epochs_completed, best_epoch=result.best_epoch,
                         best_value=result.best_value, stop_reason=result.stop_reason,
                         train_seconds=result.train_seconds)
    _keep_held_out(cfg, built.data, run)
    out = Run(run.path, cfg, built.data.spec, built.model, task, metrics, device)
    if cfg.output.report:
        with phases("report"):
            lifecycle.report(run, verbose)
    lifecycle.mark(run, phases=phases.seconds)
    return out


HELD_OUT = 256  # raw examples kept when the data cannot be loaded again (an export checks on them)


def _keep_held_out(cfg: RunConfig, data: Dataset, run: RunDir) -> None:
    """artifacts/held_out.npz: the first test (else validation) examples, raw, for a run whose data
    was given in Python (gk.fit): what `gradkit export` checks an export on."""
    import numpy as np

    from gradkit.data import DATASETS
    from gradkit.rundir import save_npz

    if not DATASETS.get(cfg.data.name).given:
        return
    split = data.test if len(data.test) else data.val
    part = split.take(np.arange(min(HELD_OUT, len(split))))
    save_npz(run.path / "artifacts" / "held_out.npz", x=part.x.numpy(), y=part.y.numpy())


def final_metrics(task: Any, data: Dataset, cfg: RunConfig, run: RunDir, device: torch.device,
                  verbose: bool = False, fid_classifier: Callable | None = None,
                  phases: Phases | None = None) -> dict[str, float]:
    """val/* and test/* of the task's model as it is now, the task's baselines, and whatever its
    artifacts add (`Task.write_artifacts`); test details go to artifacts/test_details.json."""
    phases = phases if phases is not None else Phases()
    metrics: dict[str, float] = {}
    test_pred = None
    splits = [("val", data.val), ("test", data.test)]
    if cfg.output.train_metrics:
        splits.insert(0, ("trainset", data.train))
    for split_name, split in splits:
        if not len(split):
            continue
        batches = make_batches(split, data.spec, cfg.train.eval_batch_size, device,
                               workers=cfg.data.workers)
        with phases("final evaluation"):
            scalars, details = evaluate(task, batches, device, cfg.train.precision)
        metrics.update({f"{split_name}/{k}": v for k, v in scalars.items()})
        if split_name == "test":
            test_pred = in_split_order(getattr(task, "last_pred", None), batches)
            if details:
                run.write_json("artifacts/test_details.json", details)
    if cfg.output.train_metrics:  # the generalisation gap, trainset - test (else val)
        held = "test" if len(data.test) else "val"
        metrics.update({f"gap/{k.split('/', 1)[1]}": v - metrics[f"{held}/{k.split('/', 1)[1]}"]
                        for k, v in list(metrics.items()) if k.startswith("trainset/")
                        and f"{held}/{k.split('/', 1)[1]}" in metrics})
    if not len(data.test):  # data given without a test split: baselines and artifacts on val
        data = dataclasses.replace(data, test=data.val)
    baselines = getattr(task, "baselines", None)
    if baselines is not None and len(data.test):
        with phases("baselines"):
            metrics.update(baselines(data, cfg.seed))
    for module in task.models.values():
        module.eval()
    write = getattr(task, "write_artifacts", None)
    if write is not None and len(data.test):
        end = Ending(data, cfg, run, device, test_pred, verbose, fid_classifier, phases)
        with phases("artifacts"):
            metrics.update(write(end) or {})
    return metrics
