"""A finished run back as a `Run`: from its run directory (the best or last checkpoint) or from a
bundle (gradkit/engine/bundle.py), and its metrics recomputed on a split."""
from __future__ import annotations

from pathlib import Path

import torch

from gradkit import checkpoint
from gradkit.data import DataSpec, make_batches
from gradkit.engine.bundle import is_bundle, load_bundle
from gradkit.engine.configs import load_file
from gradkit.engine.run import Run
from gradkit.errors import ConfigError, GradkitError
from gradkit.rundir import RunDir
from gradkit.training import evaluate as evaluate_batches


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

    if is_bundle(run_dir):
        return load_bundle(run_dir, device, model)
    run = RunDir.existing(run_dir)
    cfg = load_file(run.config_path, data=False)  # predicting needs no data set
    if cfg.rl:  # an agent acts in an environment; it has no data spec, predict() or classify()
        raise GradkitError(f"{run.path} is a reinforcement-learning run ({cfg.rl['algo']} on "
                           f"{cfg.rl['env']}): evaluate it with `gradkit play {run.path}`, or load "
                           "its agent with gradkit.rl.load_agent(run_dir) and call agent.act(obs)")
    state = checkpoint.load(run.path / "checkpoints" / f"{checkpoint_name}.pt", device)
    spec = DataSpec.from_dict(state["spec"])
    info = run.read_json("run.json", {})
    custom = info.get("custom_model")
    if model is None:
        if isinstance(custom, dict):
            from gradkit.models.custom import rebuild

            model = rebuild(custom, str(run.path))
        elif custom:  # run.json of an older gradkit: True, no class recorded
            raise GradkitError(f"{run.path} trained your own module; pass it: gk.load(dir, model=MyNet())")
        else:
            model = gradkit.models.build(cfg.model, spec)
    if isinstance(custom, dict):  # wrapped for its task as in training (gradkit.models.adapters)
        from gradkit.models.custom import wrap

        model = wrap(model, custom)
    try:
        model.load_state_dict(state["models"]["model"])
    except RuntimeError as exc:
        if not custom:
            raise
        raise GradkitError(f"{run.path}: the module does not fit the run's weights "
                           f"({str(exc).splitlines()[0][:200]}); pass the one it trained: "
                           "gk.load(dir, model=MyNet(...))") from None
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
