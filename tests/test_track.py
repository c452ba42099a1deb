"""Experiment tracking (`output.track`): each service's own reader finds what the run logged.

No test touches the network: W&B runs offline (WANDB_MODE=offline), MLflow writes a SQLite
store under the test's folder.
"""
import json
import sys
from pathlib import Path

import pytest
import yaml

import gradkit as gk
from gradkit import engine
from gradkit.errors import ConfigError, GradkitError
from gradkit.rundir import RunDir

for package in ("tensorboard", "mlflow", "wandb"):  # the `track` extra
    pytest.importorskip(package)
QUIET = {"verbose": False}


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc, no ~/.config/wandb
    for name in ("WANDB_DIR", "WANDB_API_KEY", "WANDB_PROJECT", "MLFLOW_TRACKING_URI",
                 "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One MLflow store for the tests that do not check the default one (each new SQLite
    store spends seconds creating its tables)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


def _mlflow_run(run_dir):
    """(client, MLflow run) of a gradkit run, found through the store and id in its run.json."""
    from mlflow import MlflowClient

    tracked = json.loads((Path(run_dir) / "run.json").read_text())["tracking"]["mlflow"]
    client = MlflowClient(tracked["uri"])
    return client, client.get_run(tracked["run_id"])


def _scalars(logdir, tag):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir))
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def test_supervised_run_reads_back_from_tensorboard_mlflow_and_wandb(tmp_path):
    run = gk.train("digits-mlp", out=tmp_path / "run", train={"epochs": 3},
                   output={"track": ["tensorboard", "mlflow", "wandb"], "track_every": 20}, **QUIET)
    epochs = RunDir(run.dir).history()
    steps = [r["step"] for r in epochs]
    assert steps == [41, 82, 123]  # 1,293 training digits / 32 a batch = 41 steps an epoch

    # TensorBoard: the epoch records at their optimiser step, batch/ means every 20 steps
    tb = run.dir / "tensorboard"
    val = _scalars(tb, "val/accuracy")
    assert [s for s, _ in val] == steps
    assert [v for _, v in val] == pytest.approx([r["val/accuracy"] for r in epochs], abs=1e-6)
    assert [s for s, _ in _scalars(tb, "batch/loss")] == [20, 40, 60, 80, 100, 120]
    assert _scalars(tb, "test/accuracy") == [(123, pytest.approx(run.metrics["test/accuracy"]))]

    # MLflow: params, each metric's history, the files, a finished status
    client, mlrun = _mlflow_run(run.dir)
    assert client.tracking_uri == f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}"  # the default
    assert mlrun.info.status == "FINISHED" and mlrun.info.run_name == f"{tmp_path.name}/run"
    assert client.get_experiment(mlrun.info.experiment_id).name == "digits-mlp"
    params = mlrun.data.params
    assert params["optim.lr"] == "0.001" and params["model.hidden"] == "[128, 64]"
    assert params["train.epochs"] == "3" and "description" not in params
    history = client.get_metric_history(mlrun.info.run_id, "val/loss")
    assert [(m.step, m.value) for m in history] == [
        (r["step"], pytest.approx(r["val/loss"])) for r in epochs]
    assert mlrun.data.metrics["test/accuracy"] == pytest.approx(run.metrics["test/accuracy"])
    files = {f.path for f in client.list_artifacts(mlrun.info.run_id)}
    assert {"config.yaml", "metrics.json", "report.html", "checkpoints"} <= files
    assert [f.path for f in client.list_artifacts(mlrun.info.run_id, "checkpoints")] == [
        "checkpoints/best.pt"]

    # the report says where the run was tracked and how to open it
    html = (run.dir / "report.html").read_text()
    assert "Tracked in" in html and "tensorboard --logdir" in html and "mlflow ui --backend-store-uri" in html

    # W&B, offline: its run log in the run directory holds the metric keys and the config
    info = json.loads((run.dir / "run.json").read_text())["tracking"]
    assert info["wandb"]["mode"] == "offline" and set(info) == {"tensorboard", "mlflow", "wandb"}
    logs = list((run.dir / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(logs) == 1
    data = logs[0].read_bytes()
    assert b"val/accuracy" in data and b"batch/loss" in data and b"optim.lr" in data


def test_resumed_run_continues_its_mlflow_run(tmp_path, store, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    run = gk.train("iris-mlp", out=tmp_path / "run", train={"epochs": 2},
                   output={"track": ["mlflow"], "report": False}, **QUIET)
    _, first = _mlflow_run(run.dir)
    raw = yaml.safe_load((run.dir / "config.yaml").read_text())
    raw["train"]["epochs"] = 4  # as if the run had been meant to be longer
    (run.dir / "config.yaml").write_text(yaml.safe_dump(raw))
    gk.resume(run.dir, verbose=False)
    client, again = _mlflow_run(run.dir)
    assert again.info.run_id == first.info.run_id and again.info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(again.info.run_id, "val/loss")] == [
        r["step"] for r in RunDir(run.dir).history()]
    assert len(RunDir(run.dir).history()) == 4


def test_a_failing_run_is_marked_failed_in_mlflow_under_its_tracking_uri(tmp_path, store,
                                                                          monkeypatch):
    from gradkit.engine import execute

    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "my-study")

    class Boom:
        def on_epoch_end(self, state):
            raise RuntimeError("disk full")

    cfg = engine.resolve("iris-mlp", overrides=[f"output.run_dir={tmp_path / 'run'}",
                                           "output.track=mlflow", "output.report=false"])
    with pytest.raises(RuntimeError, match="disk full"):
        execute(cfg, callbacks=[Boom()], verbose=False)
    client, mlrun = _mlflow_run(tmp_path / "run")
    assert mlrun.info.status == "FAILED" and client.tracking_uri == store
    assert client.get_experiment(mlrun.info.experiment_id).name == "my-study"
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "failed"
    assert not Path("runs/mlflow.db").exists()


def test_rl_run_tracks_each_evaluation(tmp_path, store, monkeypatch):
    pytest.importorskip("gymnasium")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    run = gk.train("cartpole-ppo", out=tmp_path / "rl", verbose=False,
                   rl={"n_envs": 2, "n_steps": 64, "total_steps": 512, "eval_every": 256,
                       "eval_episodes": 2},
                   output={"report": False, "track": ["tensorboard", "mlflow"]})
    history = RunDir(run.dir).history()
    returns = _scalars(run.dir / "tensorboard", "eval/mean_return")
    assert [s for s, _ in returns] == [256, 512] == [r["step"] for r in history]
    assert [v for _, v in returns] == pytest.approx([r["eval/mean_return"] for r in history])
    client, mlrun = _mlflow_run(run.dir)
    assert mlrun.data.params["rl.algo"] == "ppo" and mlrun.data.params["rl.total_steps"] == "512"
    assert not any(k.startswith(("optim.", "model.", "data.")) for k in mlrun.data.params)
    assert len(client.get_metric_history(mlrun.info.run_id, "eval/mean_return")) == 2
    assert mlrun.data.metrics["train/steps"] == 512 and mlrun.info.status == "FINISHED"


def test_each_variant_is_its_own_tracked_run(tmp_path, store, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    runs = gk.train("adding-rnn-vs-lstm", out=tmp_path / "cmp", verbose=False,
                    data={"length": 6, "samples": 200}, model={"hidden": 4}, train={"epochs": 1},
                    output={"report": False, "track": ["mlflow"]})
    ids = set()
    for name, run in runs.items():
        _, mlrun = _mlflow_run(run.dir)
        assert mlrun.info.run_name == f"cmp/{name}" and mlrun.data.params["model.name"] == name
        ids.add(mlrun.info.experiment_id)
        ids.add(mlrun.info.run_id)
    assert len(ids) == 3  # one experiment (the recipe), two runs


def test_wandb_is_offline_without_credentials(monkeypatch):
    import wandb

    from gradkit.track.wandb import _mode

    monkeypatch.setenv("NETRC", "/nonexistent/netrc")
    assert _mode(wandb) == "offline"


def test_tracker_config_errors():
    with pytest.raises(ConfigError, match=r"unknown tracker 'tensorbord' \(did you mean 'tensorboard'\?\)"):
        engine.resolve("iris-mlp", overrides=["output.track=[tensorbord]"])
    assert engine.resolve("iris-mlp", overrides=["output.track=mlflow,wandb"]).output.track == [
        "mlflow", "wandb"]


def test_missing_tracker_package_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` now raises ImportError
    with pytest.raises(GradkitError, match=r"pip install 'gradkit\[track\]'"):
        gk.train("iris-mlp", out=tmp_path / "run", output={"track": ["wandb"]}, **QUIET)
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "failed"


def test_callbacks_hear_every_epoch_even_the_early_stopped_last_one(tmp_path):
    from gradkit.engine import execute

    class Record:
        every_steps = 4

        def __init__(self):
            self.epochs, self.steps = [], []

        def on_epoch_end(self, state):
            self.epochs.append(state.epoch)

        def on_steps(self, step, metrics):
            self.steps.append((step, set(metrics)))

    seen = Record()
    cfg = engine.resolve("iris-mlp", overrides=[f"output.run_dir={tmp_path / 'run'}", "train.patience=1",
                                           "optim.lr=1.0", "output.report=false"])
    run = execute(cfg, callbacks=[seen], verbose=False)
    info = json.loads((run.dir / "run.json").read_text())
    assert info["stop_reason"].startswith("early stopping")
    assert seen.epochs == list(range(1, info["epochs_completed"] + 1))
    steps_per_epoch = 7  # 102 training flowers / 16 a batch
    assert [s for s, _ in seen.steps] == list(range(4, steps_per_epoch * len(seen.epochs) + 1, 4))
    assert all(keys == {"loss", "accuracy"} for _, keys in seen.steps)
