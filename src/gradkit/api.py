"""The Python API: `train`, `resume`, `fit`, `load`, `evaluate`. The CLI only calls these.

    import gradkit as gk
    run = gk.train("fashion-mlp", train={"epochs": 5})
    run.metrics["test/accuracy"]; run.predict(x); gk.load(run.dir)
    gk.fit(my_module, gk.data.load("fashion-mnist"), epochs=5, optim="adam", lr=1e-3)
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gradkit import config as C
from gradkit.data import GENERATIVE_TASKS, DataSpec, Dataset, make_batches
from gradkit.distributed import is_main_process, placement, setup as setup_distributed
from gradkit.errors import ConfigError, GradkitError, StorageError
from gradkit.predict import Run
from gradkit.rundir import RunDir, environment, save_npz
from gradkit import checkpoint
from gradkit.training import (NonFiniteLoss, evaluate as evaluate_batches, fit as fit_loop,
                              in_split_order, predict_split)
from gradkit.track import open_trackers
from gradkit.training import Callback
from gradkit.training.loop import resolve_precision
from gradkit.training.runtime import seed_everything, select_device  # noqa: F401  (re-exported)


def train(recipe: str | None = None, *, config_file: str | Path | None = None,
          overrides: list[str] | None = None, out: str | Path | None = None,
          verbose: bool = True, nproc: int = 1, **sections: Any) -> Run | dict[str, Run]:
    """Train a named recipe (or a config file), with overrides, and return the finished run.

    A recipe with `variants:` trains each variant and returns {variant name: Run}, in the
    recipe's order; `out` is then their parent directory (see `gradkit.variants`).
    `nproc` > 1 trains on that many local processes with DDP (gradkit.distributed).

    >>> run = gk.train("fashion-mlp", train={"epochs": 5}, optim={"lr": 3e-4})
    >>> run = gk.train("fashion-mlp", overrides=["model.dropout=0.2"])
    >>> runs = gk.train("adding-rnn-vs-lstm", data={"length": 50}); runs["lstm"].metrics
    >>> run = gk.train("fashion-mlp", nproc=2)
    """
    extra = C.parse_overrides(list(overrides or []))
    extra = C.deep_merge(extra, sections)
    if out is not None:
        extra = C.deep_merge(extra, {"output": {"run_dir": str(out)}})
    cfg, variants = C.resolve_runs(recipe, config_file, extra)
    if nproc != 1:
        from gradkit.distributed import launch

        return launch.train(cfg, nproc, verbose)
    if variants:
        if placement() is not None:
            raise ConfigError(f"recipe '{cfg.name}' trains {len(variants)} variants; a distributed "
                              "launch trains one run: pick a variant's settings as overrides")
        from gradkit.variants import train_variants

        return train_variants(cfg, variants, verbose=verbose)
    return execute(cfg, verbose=verbose)


def resume(run_dir: str | Path, verbose: bool = True, nproc: int = 1) -> Run:
    """Continue a run from `checkpoints/last.pt` with exactly its saved config.

    Temp files a killed process left are removed first. A run killed in its first epoch (no
    last.pt yet) starts again from scratch in the same directory, with the same config and seed.
    """
    if nproc != 1:  # on N local DDP processes; any N continues any run (the batch is global)
        from gradkit.distributed import launch

        return launch.resume(run_dir, nproc, verbose)
    run = RunDir.existing(run_dir)
    cfg = C.load_file(run.config_path)
    if is_main_process():  # the other ranks of a torchrun resume leave rank 0's files alone
        run.clean_temp()
    state = checkpoint.load(run.last) if run.last.is_file() else None
    if state is None and verbose and is_main_process():
        print(f"gradkit: {run.path} has no checkpoints/last.pt yet (it stopped in its first "
              "epoch): training it from the start", flush=True)
    return execute(cfg, run=run, resume_state=state, verbose=verbose)


def fit(model: torch.nn.Module, data: Dataset, *, epochs: int = 10, optim: str = "adam",
        lr: float = 1e-3, batch_size: int = 64, out: str | Path | None = None,
        verbose: bool = True, **config: Any) -> Run:
    """Train your own `nn.Module` on a gradkit `Dataset` with the same loop, run directory and report.

    >>> run = gk.fit(MyNet(), gk.data.load("fashion-mnist"), epochs=5, optim="adam", lr=1e-3)
    """
    raw = {"name": config.pop("name", type(model).__name__.lower()), "task": data.spec.task,
           "data": {"name": data.name if data.name in _dataset_names() else "csv"},
           "model": {"name": "mlp"},  # recorded only; the module you pass is what trains
           "optim": {"name": optim, "lr": lr}, "train": {"epochs": epochs, "batch_size": batch_size}}
    raw = C.deep_merge(raw, config)
    if out is not None:
        raw = C.deep_merge(raw, {"output": {"run_dir": str(out)}})
    cfg = C.validate(raw, "gk.fit arguments")
    return execute(cfg, model=model, data=data, verbose=verbose)


def _dataset_names() -> list[str]:
    from gradkit.data import DATASETS

    return DATASETS.names()


def execute(cfg: C.RunConfig, *, model: torch.nn.Module | None = None, data: Dataset | None = None,
            run: RunDir | None = None, resume_state: dict | None = None, verbose: bool = True,
            callbacks: Sequence[Callback] = ()) -> Run:
    """Build data, model and task, train, test, and write every artifact of the run directory.

    `callbacks` join the loop's (e.g. a tuning trial's pruner); the trackers `output.track`
    names (gradkit.track) get the config, every epoch, the final metrics and the run's files.
    """
    if cfg.rl:  # reinforcement learning has its own loops (gradkit/rl), not `fit`
        from gradkit.rl import run as run_rl

        if callbacks:
            raise GradkitError("callbacks hear the supervised loop's epochs; an RL run has none")
        return run_rl(cfg, run=run, resume_state=resume_state, verbose=verbose)
    if cfg.federated is not None:  # Flower's simulation runtime drives the loop (gradkit/federated)
        from gradkit.federated import run_federated

        if resume_state is not None or callbacks or model is not None or data is not None:
            raise GradkitError("a federated run trains a recipe's own model from the start: it "
                               "cannot be resumed or given a module, data or callbacks")
        return run_federated(cfg, verbose=verbose)
    import gradkit.data
    import gradkit.models
    import gradkit.tasks

    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    # under torchrun/Slurm: join the process group, this rank's device (LOCAL otherwise)
    dist = setup_distributed(cfg.train, select_device(cfg.train.device))
    device = dist.device
    seed_everything(cfg.seed, cfg.train.deterministic)
    data = data or gradkit.data.build(cfg.data, cfg.task.name, cfg.seed)
    custom = model is not None
    model = model if custom else gradkit.models.build(cfg.model, data.spec)
    model.to(device)
    if cfg.train.channels_last:
        model.to(memory_format=torch.channels_last)
    if dist.world > 1:  # same initial weights everywhere, then each rank its own dropout masks
        torch.manual_seed(cfg.seed + dist.rank)
    task = gradkit.tasks.build(cfg.task, model, data.spec)
    if run is None and dist.main:
        run = RunDir.create(cfg.name, cfg.seed, cfg.output.dir, cfg.output.run_dir)
        run.write_text("config.yaml", C.dump(cfg))
        run.write_json("env.json", environment(str(device)))
    if not dist.main:  # ranks > 0 train their shards and write nothing; run.metrics stays {}
        path = dist.from_main(None) if resume_state is None else run.path
        fit_loop(task, data, cfg, None, device, resume=resume_state, verbose=False, dist=dist)
        return Run(path, cfg, data.spec, model, task, {}, device)
    if dist.world > 1 and resume_state is None:
        dist.from_main(str(run.path))
    run.update_info(name=cfg.name, status="running", started=time.strftime("%Y-%m-%dT%H:%M:%S"),
                    finished=None, spec=data.spec.summary(), custom_model=custom,
                    n_params=sum(p.numel() for p in model.parameters()), device=str(device),
                    weights_source=getattr(model, "source", None),  # pretrained: where from
                    precision=resolve_precision(cfg.train.precision, device),
                    monitor=cfg.train.monitor, data_source=data.source, data_notes=data.notes,
                    error=None, world_size=dist.world,
                    samples={"train": len(data.train), "val": len(data.val), "test": len(data.test)})
    if verbose:
        print(f"gradkit: {cfg.name} on {data.name} ({len(data.train)} train examples), "
              f"{device}{f' x {dist.world} ranks' if dist.world > 1 else ''}, run directory {run.path}",
              flush=True)
        for line in data.notes:
            print(f"gradkit: data: {line}", flush=True)
    with open_trackers(cfg, run, verbose) as tracker:  # an exception marks tracked runs failed
        tracker.log_params(cfg)
        result = _fit(task, data, cfg, run, device, resume_state, verbose,
                      [*callbacks, *tracker.callbacks(cfg.output.track_every)], dist)
        try:
            out = _finish(task, data, cfg, run, device, model, result, verbose)
        except StorageError as exc:
            raise _stopped(run, exc) from None
        tracker.finish(run, out.metrics)
    return out


def _fit(task, data: Dataset, cfg: C.RunConfig, run: RunDir, device, resume_state, verbose,
         callbacks, dist):
    try:
        return fit_loop(task, data, cfg, run, device, callbacks, resume=resume_state, verbose=verbose,
                        dist=dist)
    except NonFiniteLoss as exc:
        _mark(run, status="failed", error=str(exc))
        kept = f"; last good checkpoint: {run.last}" if run.last.is_file() else ""
        raise GradkitError(f"{exc}\n  Run directory: {run.path}{kept}") from None
    except StorageError as exc:
        raise _stopped(run, exc) from None
    except BaseException as exc:
        _mark(run, status="interrupted" if isinstance(exc, KeyboardInterrupt) else "failed",
              error=f"{type(exc).__name__}: {exc}")
        raise


def _mark(run: RunDir, **fields: Any) -> None:
    """Record a failure in run.json if the disk still lets us: a full disk must not hide the
    error that stopped the run behind a second one."""
    try:
        run.update_info(**fields)
    except GradkitError:
        pass


def _stopped(run: RunDir, exc: StorageError) -> StorageError:
    _mark(run, status="failed", error=str(exc))
    kept = (f"its last complete checkpoint is intact ({run.last}); once fixed, continue it with "
            f"`gradkit train --resume {run.path}`" if run.last.is_file() else
            f"it had no complete checkpoint yet; once fixed, `gradkit train --resume {run.path}` "
            "trains it from the start")
    return StorageError(f"{exc}\n  The run stopped: {kept}")


def _finish(task, data: Dataset, cfg: C.RunConfig, run: RunDir, device, model, result,
            verbose: bool) -> Run:
    """Reload the best checkpoint, compute the final metrics, write them and the report."""
    best = checkpoint.load(run.best, device)
    for name, module in task.models.items():
        module.load_state_dict(best["models"][name])
    metrics = _final_metrics(task, data, cfg, run, device, verbose)
    run.write_json("metrics.json", metrics)
    run.update_info(status="stopped_early" if result.stop_reason else "completed",
                    finished=time.strftime("%Y-%m-%dT%H:%M:%S"), epochs_completed=result.epochs_completed,
                    best_epoch=result.best_epoch, best_value=result.best_value,
                    stop_reason=result.stop_reason, train_seconds=result.train_seconds)
    out = Run(run.path, cfg, data.spec, model, task, metrics, device)
    if cfg.output.report:
        _report(run, verbose)
    return out


def _final_metrics(task, data: Dataset, cfg: C.RunConfig, run: RunDir, device,
                   verbose: bool = False) -> dict[str, float]:
    from gradkit.metrics.baselines import baselines

    metrics: dict[str, float] = {}
    test_pred = None
    for split_name, split in (("val", data.val), ("test", data.test)):
        if not len(split):
            continue
        batches = make_batches(split, data.spec, cfg.train.eval_batch_size, device,
                               workers=cfg.data.workers)
        scalars, details = evaluate_batches(task, batches, device, cfg.train.precision)
        metrics.update({f"{split_name}/{k}": v for k, v in scalars.items()})
        if split_name == "test":
            test_pred = in_split_order(getattr(task, "last_pred", None), batches)
            if details:
                run.write_json("artifacts/test_details.json", details)
    metrics.update(baselines(data, cfg.seed))
    _write_samples(task, data, cfg, run, device, test_pred)
    if cfg.task.fid:  # vae, gan: FID of generated images, beside its real-vs-real floor
        from gradkit.gallery import write_quality

        metrics.update(write_quality(task, data, cfg, run, device, verbose))
    if data.spec.task == "classification":  # the report's top confusions and attention maps
        from gradkit.inspection import write_inspection

        write_inspection(task, data, cfg, run, device, test_pred)
        if cfg.output.explain:  # the report's Explanations: a few test examples, through Captum
            from gradkit.explain import write_explanations

            write_explanations(task.model, data, run, device, test_pred, verbose)
    return metrics


@torch.inference_mode()
def _write_samples(task, data: Dataset, cfg: C.RunConfig, run: RunDir, device,
                   pred: torch.Tensor | None = None) -> None:
    """Test examples for the report: about half of them misclassified, when there are any.

    `pred`, the test pass's predicted classes, saves a second pass over the test split: only
    the examples shown are run again, for their probabilities.
    """
    for module in task.models.values():
        module.eval()
    if data.spec.task in GENERATIVE_TASKS:  # reconstructions, latent codes, samples
        from gradkit.gallery import write_final

        write_final(task, data, cfg, run, device)
        return
    if data.spec.task == "language-model":  # continuations of test-text prompts, fixed seed
        from gradkit.generate import write_samples

        write_samples(task.model, data, run.path / "artifacts" / "samples.npz")
        return
    y = data.test.y
    path = run.path / "artifacts" / "samples.npz"
    path.parent.mkdir(exist_ok=True)
    if pred is None or len(pred) != len(y):
        out = predict_split(task, data.test, data.spec, cfg.train.eval_batch_size, device,
                            cfg.data.workers)
        if data.spec.task != "classification":  # every test example: (N,), or (N, horizon) forecasts
            time = getattr(data.test, "time", None)  # a series' time labels, for the report's axis
            extra = {} if time is None else {"time": np.asarray(time)}
            save_npz(path, y=y.numpy(), pred=out.numpy(), **extra)
            return
        pred = out.argmax(1)
    wrong = torch.nonzero(pred != y).flatten()
    right = torch.nonzero(pred == y).flatten()
    n = cfg.output.samples
    half = min(len(wrong), n // 2)
    idx = torch.cat([wrong[:half], right[: n - half]]).sort().values
    shown = data.test.take(idx)  # decodes only these when the test split is streamed
    prob = predict_split(task, shown, data.spec, cfg.train.eval_batch_size, device)
    text = {} if shown.text is None else {"text": np.array(shown.text, dtype=str)}
    save_npz(path, x=shown.x.numpy(), y=shown.y.numpy(), pred=pred[idx].numpy(),
             prob=prob.numpy(), **text)


def _report(run: RunDir, verbose: bool) -> None:
    from gradkit.report import build_report

    try:
        path = build_report(run.path)
    except Exception as exc:  # a report problem must not lose a finished run
        print(f"gradkit: the report could not be built ({type(exc).__name__}: {exc}); "
              f"`gradkit report {run.path}` retries", flush=True)
        return
    if verbose:
        print(f"gradkit: report {path}", flush=True)


def load(run_dir: str | Path, checkpoint_name: str = "best", model: torch.nn.Module | None = None,
         device: str = "cpu") -> Run:
    """Reload a finished run (its best checkpoint by default) for prediction or evaluation.

    Runs of your own module (`gk.fit`) need that module passed as `model=`. An RL run raises
    a GradkitError: its agent is a different object (`act(obs)`, no `predict`), loaded by
    `gradkit.rl.load_agent(run_dir)`; `gradkit play RUN_DIR` evaluates it. A bundle folder
    (`gradkit export RUN_DIR --format bundle`) loads from its JSON and safetensors alone.
    """
    import gradkit.models
    import gradkit.tasks
    from gradkit.export.bundle import is_bundle, load_bundle

    if is_bundle(run_dir):
        return load_bundle(run_dir, device)
    run = RunDir.existing(run_dir)
    cfg = C.load_file(run.config_path)
    if cfg.rl:  # an agent acts in an environment; it has no data spec, predict() or classify()
        raise GradkitError(f"{run.path} is a reinforcement-learning run ({cfg.rl['algo']} on "
                           f"{cfg.rl['env']}): evaluate it with `gradkit play {run.path}`, or load "
                           "its agent with gradkit.rl.load_agent(run_dir) and call agent.act(obs)")
    state = checkpoint.load(run.path / "checkpoints" / f"{checkpoint_name}.pt", device)
    spec = DataSpec.from_dict(state["spec"])
    info = run.read_json("run.json", {})
    if model is None:
        if info.get("custom_model"):
            raise GradkitError(f"{run.path} trained your own module; pass it: gk.load(dir, model=MyNet())")
        model = gradkit.models.build(cfg.model, spec)
    model.load_state_dict(state["models"]["model"])
    model.to(device).eval()
    task = gradkit.tasks.build(cfg.task, model, spec)
    return Run(run.path, cfg, spec, model, task, run.read_json("metrics.json", {}), torch.device(device))


def evaluate(run_dir: str | Path, split: str = "test", checkpoint_name: str = "best",
             data_dir: str | None = None) -> dict[str, float]:
    """Recompute a saved run's metrics on `split` (test or val) with its own data config."""
    if split not in ("test", "val"):
        raise ConfigError(f"split must be test or val, got '{split}'")
    run = load(run_dir, checkpoint_name)
    cfg = run.config
    data = run.data(data_dir)
    batches = make_batches(getattr(data, split), data.spec, cfg.train.eval_batch_size, run.device,
                           workers=cfg.data.workers)
    scalars, _ = evaluate_batches(run.task, batches, run.device, cfg.train.precision)
    return {f"{split}/{k}": v for k, v in scalars.items()}
