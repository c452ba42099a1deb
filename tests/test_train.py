"""Training end to end on real data: accuracy, determinism, resume after SIGKILL, failures."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import gradkit as gk
from gradkit.errors import CheckpointError, GradkitError
from gradkit import checkpoint

from conftest import needs_fashion

QUIET = {"verbose": False}


def test_digits_cnn_reaches_095(tmp_path):
    run = gk.train("digits-cnn", out=tmp_path / "run", **QUIET)
    assert run.metrics["test/accuracy"] >= 0.95
    # every artifact of the run directory is there
    for name in ("config.yaml", "run.json", "env.json", "metrics.jsonl", "metrics.json",
                 "checkpoints/last.pt", "checkpoints/best.pt", "report.html",
                 "artifacts/samples.npz", "artifacts/test_details.json"):
        assert (run.dir / name).is_file(), name
    info = json.loads((run.dir / "run.json").read_text())
    assert info["status"] == "completed" and info["epochs_completed"] == 20
    assert len((run.dir / "metrics.jsonl").read_text().splitlines()) == 20
    html = (run.dir / "report.html").read_text()
    assert "data:image/png;base64," in html and "Confusion matrix" in html
    # the model beats the majority baseline by far; the baseline is recorded beside it
    assert run.metrics["baseline/majority/accuracy"] < 0.2


@needs_fashion
def test_fashion_mlp_two_epochs_reaches_085(tmp_path):
    run = gk.train("fashion-mlp", train={"epochs": 2}, out=tmp_path / "run", output={"report": False}, **QUIET)
    assert run.metrics["test/accuracy"] >= 0.85


def test_regression_by_sgd_beats_the_mean(tmp_path):
    run = gk.train("diabetes-linear", out=tmp_path / "run", output={"report": False}, **QUIET)
    # Gradient descent on the MSE converges to the closed-form least-squares fit (the oracle).
    assert run.metrics["test/mse"] == pytest.approx(run.metrics["baseline/linear/mse"], rel=0.03)
    assert run.metrics["test/r2"] > run.metrics["baseline/mean/r2"] + 0.25


def test_same_seed_same_result(tmp_path):
    kw = dict(train={"epochs": 3, "deterministic": True}, output={"report": False}, **QUIET)
    a = gk.train("digits-mlp", out=tmp_path / "a", **kw)
    b = gk.train("digits-mlp", out=tmp_path / "b", **kw)
    c = gk.train("digits-mlp", out=tmp_path / "c", seed=1, **kw)
    assert a.metrics["test/loss"] == b.metrics["test/loss"]
    assert a.metrics["test/loss"] != c.metrics["test/loss"]


def _history(run_dir: Path) -> list[dict]:
    drop = ("time", "epoch_seconds", "samples_per_s")
    return [{k: v for k, v in json.loads(line).items() if k not in drop}
            for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_resume_after_sigkill_matches_uninterrupted(tmp_path):
    args = ["digits-mlp", "train.epochs=12", "train.batch_size=4", "train.deterministic=true",
            "train.threads=1", "output.report=false", "--quiet"]
    cmd = [sys.executable, "-m", "gradkit", "train"]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    subprocess.run(cmd + args + ["--out", str(tmp_path / "full")], check=True, env=env)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(cmd + args + ["--out", str(killed)], env=env)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        lines = (killed / "metrics.jsonl").read_text().splitlines() if (killed / "metrics.jsonl").exists() else []
        if len(lines) >= 3:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    done = len((killed / "metrics.jsonl").read_text().splitlines())
    assert 3 <= done < 12
    config_before = (killed / "config.yaml").read_text()

    subprocess.run(cmd + ["--resume", str(killed), "--quiet"], check=True, env=env)
    assert (killed / "config.yaml").read_text() == config_before
    assert _history(killed) == _history(tmp_path / "full")
    full = json.loads((tmp_path / "full" / "metrics.json").read_text())
    resumed = json.loads((killed / "metrics.json").read_text())
    for key in ("test/loss", "test/accuracy", "val/loss"):
        assert resumed[key] == full[key], key


def test_non_finite_loss_stops_with_a_clear_message_and_keeps_checkpoint(tmp_path):
    from gradkit.training.loop import Stepper

    real = Stepper.__call__

    def poisoned(self, loss, name):  # epoch 2 goes bad, as a too-high lr would make it
        if self.epoch == 2:
            loss = loss * float("nan")
        return real(self, loss, name)

    Stepper.__call__ = poisoned
    try:
        with pytest.raises(GradkitError, match=r"(?s)loss became nan at epoch 2, step \d+.*optim.lr=.*last good checkpoint"):
            gk.train("digits-mlp", train={"epochs": 5}, out=tmp_path / "run", **QUIET)
    finally:
        Stepper.__call__ = real
    state = checkpoint.load(tmp_path / "run" / "checkpoints" / "last.pt")
    assert state["epoch"] == 1
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "failed"


def test_huge_learning_rate_is_caught(tmp_path):
    with pytest.raises(GradkitError, match="learning rate is probably too high"):
        gk.train("diabetes-linear", optim={"lr": 1e12}, out=tmp_path / "run", **QUIET)


def test_corrupted_checkpoint_is_a_clear_error(tmp_path):
    run = gk.train("iris-mlp", train={"epochs": 2}, out=tmp_path / "run", output={"report": False}, **QUIET)
    last = run.dir / "checkpoints" / "last.pt"
    last.write_bytes(last.read_bytes()[:200])
    with pytest.raises(CheckpointError, match=r"last.pt is corrupted or unreadable"):
        gk.resume(run.dir, **QUIET)
    (run.dir / "checkpoints" / "best.pt").write_text("hello")
    with pytest.raises(CheckpointError, match="corrupted"):
        gk.load(run.dir)


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    checkpoint.save(path, {"epoch": 1})

    def crash(*a, **k):
        raise RuntimeError("killed mid-write")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(RuntimeError):
        checkpoint.save(path, {"epoch": 2})
    monkeypatch.undo()
    assert checkpoint.load(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


def test_early_stopping(tmp_path):
    run = gk.train("digits-mlp", train={"epochs": 200, "patience": 3}, out=tmp_path / "run",
                   output={"report": False}, **QUIET)
    info = json.loads((run.dir / "run.json").read_text())
    assert info["status"] == "stopped_early" and "did not improve for 3 epochs" in info["stop_reason"]
    assert info["epochs_completed"] == info["best_epoch"] + 3 < 200


def test_time_limit_stops_after_the_epoch_that_reaches_it(tmp_path):
    run = gk.train("digits-mlp", train={"epochs": 50, "time_limit": 1e-6}, out=tmp_path / "run",
                   output={"report": False}, **QUIET)
    info = json.loads((run.dir / "run.json").read_text())
    assert info["epochs_completed"] == 1 and info["status"] == "stopped_early"
    assert "train.time_limit=1e-06 after epoch 1" in info["stop_reason"]
    assert "test/accuracy" in run.metrics  # the run is finished and tested like any other


def test_predict_load_and_classify(tmp_path):
    run = gk.train("digits-mlp", train={"epochs": 5}, out=tmp_path / "run", output={"report": False}, **QUIET)
    x = gk.data.load("digits").test.x[:8]
    probs = run.predict(x)
    assert probs.shape == (8, 10) and np.allclose(probs.sum(1), 1, atol=1e-5)
    again = gk.load(run.dir)
    np.testing.assert_allclose(again.predict(x), probs, atol=1e-6)
    top = again.classify(x[0, 0], k=3)  # a single (H, W) image works too
    assert len(top) == 1 and len(top[0]) == 3 and top[0][0][1] >= top[0][1][1]
    with pytest.raises(GradkitError, match=r"do not match this model, which expects \(1, 8, 8\)"):
        run.predict(np.zeros((2, 28, 28)))


def test_fit_a_users_own_module(tmp_path):
    data = gk.data.load("digits")
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 32), torch.nn.ReLU(),
                                torch.nn.Linear(32, 10))
    run = gk.fit(model, data, epochs=10, optim="sgd", lr=0.1, out=tmp_path / "run", **QUIET)
    assert run.metrics["test/accuracy"] > 0.9
    with pytest.raises(GradkitError, match="pass it"):
        gk.load(run.dir)
    assert gk.load(run.dir, model=model).predict(data.test.x[:2]).shape == (2, 10)


@pytest.mark.parametrize("override", [
    {"optim": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True, "schedule": "step", "step_size": 5}},
    {"optim": {"name": "rmsprop", "lr": 1e-3, "schedule": "cosine", "warmup_epochs": 1}},
    {"optim": {"name": "adamw", "weight_decay": 0.01}, "task": {"label_smoothing": 0.1},
     "train": {"grad_clip": 1.0, "precision": "bf16"}},
    {"task": {"loss": "bce"}, "model": {"batch_norm": True, "activation": "gelu"}},
])
def test_optimisers_schedules_and_losses_all_learn(tmp_path, override):
    run = gk.train("digits-mlp", train={"epochs": 8, **override.pop("train", {})}, out=tmp_path / "run",
                   output={"report": False}, **override, **QUIET)
    assert run.metrics["test/accuracy"] > 0.85


def test_epoch_metrics_are_weighted_by_batch_size():
    """The last, smaller batch counts for its samples only (an oracle on a hand-made tally)."""
    from gradkit.training.tally import Tally

    tally = Tally()
    tally.add({"loss": torch.tensor(1.0)}, 64)
    tally.add({"loss": torch.tensor(4.0)}, 16)
    assert tally.means()["loss"] == pytest.approx((64 * 1.0 + 16 * 4.0) / 80)
    tally.add({"loss": torch.tensor(0.0)}, 20)  # totals carry over between reads
    assert tally.means()["loss"] == pytest.approx(128 / 100)


def test_auto_precision_follows_the_hardware(monkeypatch):
    from gradkit.training import loop

    cpu = torch.device("cpu")
    assert loop.resolve_precision("fp32", cpu) == "fp32"
    assert loop.resolve_precision("bf16", cpu) == "bf16"
    monkeypatch.setattr(loop, "_cpu_has_native_bf16", lambda: True)
    assert loop.resolve_precision("auto", cpu) == "bf16"
    monkeypatch.setattr(loop, "_cpu_has_native_bf16", lambda: False)
    assert loop.resolve_precision("auto", cpu) == "fp32"
    assert loop.resolve_precision("auto", torch.device("mps")) == "fp32"


def test_bf16_training_learns(tmp_path):
    run = gk.train("digits-cnn", out=tmp_path / "run", train={"precision": "bf16", "epochs": 8},
                   output={"report": False}, **QUIET)
    assert run.metrics["test/accuracy"] >= 0.9
    assert json.loads((run.dir / "run.json").read_text())["precision"] == "bf16"


def test_optimisers_use_the_fused_kernel_on_cpu():
    from gradkit.config import OptimConfig
    from gradkit.training.optim import build_optimizer

    params = list(torch.nn.Linear(3, 2).parameters())
    for name in ("sgd", "adam", "adamw"):
        assert build_optimizer(params, OptimConfig(name=name, lr=0.1)).defaults["fused"] is True
    assert not build_optimizer(params, OptimConfig(name="rmsprop", lr=0.1)).defaults.get("fused")
