"""The engine: one build for every kind of run, the device it selects, and the lifecycle that
records in run.json what stopped a run."""
import json

import pytest
import torch

import gradkit as gk
from gradkit import engine
from gradkit.engine import lifecycle
from gradkit.errors import GradkitError

QUIET = {"verbose": False, "output": {"report": False}}


def test_one_process_trains_on_the_device_it_selected(monkeypatch):
    """Outside torchrun the run's device is the one `train.device` selects (a GPU when there is
    one), not the CPU of the one-process placeholder rank."""
    import gradkit.engine.builder as B

    chosen = torch.device("cpu", 0)  # a device object distinct from torch.device("cpu")
    monkeypatch.setattr(B, "select_device", lambda name: chosen)
    built = engine.build(engine.resolve("iris-mlp"))
    assert built.device == chosen and built.dist.world == 1


def test_build_prepares_the_data_for_its_task():
    """The data set is built for the task's targets, then the task adapts it: a generative task
    gets pixels in [0, 1], the same set for classification keeps its own statistics."""
    vae = engine.build_data(engine.resolve("digits-mlp", overrides=["task.name=vae", "model.name=vae"]))
    clf = engine.build_data(engine.resolve("digits-mlp"))
    assert vae.spec.task == "vae" and clf.spec.task == "classification"
    assert vae.spec.mean == [0.0] and vae.spec.std == [16.0]
    assert clf.spec.mean != [0.0]
    x = gk.data.normalize(vae.train.x[:64], vae.spec)
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0


def test_the_same_seed_builds_the_same_initial_weights():
    a = engine.build(engine.resolve("digits-mlp", overrides=["seed=3"])).model.state_dict()
    b = engine.build(engine.resolve("digits-mlp", overrides=["seed=3"])).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_failure_is_recorded_in_run_json_and_raised(tmp_path):
    cfg = engine.resolve("iris-mlp", overrides=[f"output.run_dir={tmp_path / 'run'}"])
    run = lifecycle.create(cfg, "cpu")
    lifecycle.start(run, cfg)
    with pytest.raises(RuntimeError, match="boom"):
        with lifecycle.failing(run):
            raise RuntimeError("boom")
    info = json.loads((run.path / "run.json").read_text())
    assert info["status"] == "failed" and info["error"] == "RuntimeError: boom"
    with pytest.raises(KeyboardInterrupt):
        with lifecycle.failing(run):
            raise KeyboardInterrupt
    assert json.loads((run.path / "run.json").read_text())["status"] == "interrupted"


def test_execute_returns_the_run_kind_it_trained(tmp_path):
    run = engine.execute(engine.resolve("iris-mlp", overrides=[
        f"output.run_dir={tmp_path / 'iris'}", "train.epochs=1", "output.report=false"]), verbose=False)
    assert isinstance(run, engine.Run) and run.classifies and "test/accuracy" in run.metrics
    with pytest.raises(GradkitError, match="cannot be resumed or given a module"):
        engine.execute(engine.resolve("federated-fashion-mlp-iid"), verbose=False)


def test_public_functions_stay_functions():
    """A module named like a function would replace it on the package once imported (Python
    sets the submodule as the package's attribute): gk.generate, gk.resolve and the engine's
    functions must stay callable however often they are looked up."""
    import gradkit.engine.runner  # noqa: F401  (imports every engine module)

    for _ in range(2):
        assert callable(gk.generate) and callable(gk.resolve) and callable(gk.load)
        assert all(callable(getattr(engine, name)) for name in
                   ("build", "build_data", "execute", "resume", "load", "evaluate", "resolve"))


def test_run_json_records_where_the_time_went(tmp_path):
    """run.json `phases` (benchmarks/overhead.py reads them): each phase once, in order, and the
    training phase holds the loop's own train_seconds."""
    import gradkit as gk

    run = gk.train("iris-mlp", train={"epochs": 3}, out=tmp_path / "r", verbose=False)
    info = json.loads((run.dir / "run.json").read_text())
    phases = info["phases"]
    assert list(phases) == ["setup: data, model, task", "training", "final evaluation", "baselines",
                            "explanations", "artifacts", "report"]
    assert phases["training"] >= info["train_seconds"] > 0
    assert phases["artifacts"] >= phases["explanations"] > 0  # explanations run inside artifacts
