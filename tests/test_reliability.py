"""No run is lost: kill -9 at chosen moments, a full disk, a read-only folder, a checkpoint that
carries code. Each test checks the run directory file by file afterwards."""
import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

import gradkit as gk
from gradkit.cli import app
from gradkit.errors import CheckpointError, ConfigError, StorageError
from gradkit.rundir import RunDir
from gradkit import checkpoint

QUIET = {"verbose": False}
FAST = {"report": False, "explain": False}

# ---------------------------------------------------------------- kill -9 at five moments

# `python -m gradkit` with one pause point: when the run reaches it, it writes GK_SIGNAL and
# sleeps, and the test kills it there. So each kill lands at a reproducible moment: after a given
# optimiser step (mid-epoch), half-way through a checkpoint's bytes, or with a file's next
# version complete on disk but not yet renamed over the old one.
KILLABLE = r'''
import io, os, runpy, sys, time
import torch
from gradkit.training.loop import Stepper

kind, _, when = os.environ.get("GK_PAUSE", "").partition(":")

def pause():
    open(os.environ["GK_SIGNAL"], "w").close()
    time.sleep(120)  # SIGKILL arrives here

if kind == "step":  # mid-epoch, after optimiser step `when`
    real_step = Stepper.__call__
    def step(self, loss, name):
        if self.step_count == int(when):
            pause()
        return real_step(self, loss, name)
    Stepper.__call__ = step
elif kind in ("last.pt", "best.pt"):  # half of the checkpoint of epoch `when` written
    real_save = torch.save
    def save(obj, f, *args, **kwargs):
        if (isinstance(obj, dict) and obj.get("epoch") == int(when)
                and ("optimizers" in obj) == (kind == "last.pt")):
            buf = io.BytesIO()
            real_save(obj, buf, *args, **kwargs)
            f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
            f.flush()
            pause()
        return real_save(obj, f, *args, **kwargs)
    torch.save = save
elif kind:  # the file's new version written in full, not yet renamed over the old one
    real_replace = os.replace
    def replace(src, dst, *args, **kwargs):
        if os.path.basename(str(dst)) == kind and (
                kind != "metrics.jsonl" or open(src).read().count("\n") == int(when)):
            pause()
        return real_replace(src, dst, *args, **kwargs)
    os.replace = replace
sys.argv = ["gradkit", *sys.argv[1:]]
runpy.run_module("gradkit", run_name="__main__", alter_sys=True)
'''
EPOCHS = 6
TRAIN = ["digits-mlp", f"train.epochs={EPOCHS}", "train.deterministic=true", "train.threads=1",
         "output.report=false", "output.explain=false", "--quiet"]


def _is_temp(p: Path) -> bool:
    return p.name.startswith(".") and p.name.endswith(".tmp")


def assert_consistent(run: Path) -> list[Path]:
    """Every file of the run directory reads back whole; returns the temp files (ignored)."""
    temps = []
    for p in sorted(q for q in run.rglob("*") if q.is_file()):
        if _is_temp(p):
            temps.append(p)
        elif p.suffix == ".json":
            json.loads(p.read_text())
        elif p.suffix == ".jsonl":
            [json.loads(line) for line in p.read_text().splitlines()]
        elif p.suffix == ".yaml":
            assert isinstance(yaml.safe_load(p.read_text()), dict), p
        elif p.suffix == ".pt":
            checkpoint.load(p)
        elif p.suffix == ".npz":
            with np.load(p, allow_pickle=False) as npz:
                [npz[k] for k in npz.files]
        elif p.suffix == ".html":
            assert p.read_text().rstrip().endswith("</html>"), p
        elif p.name == ".writer.lock":  # who writes the run: a line of text, or empty once released
            assert p.read_text() == "" or p.read_text().startswith("process "), p
        else:
            raise AssertionError(f"unexpected file {p}")
    if (run / "checkpoints" / "last.pt").is_file():  # metrics.jsonl lags last.pt by one epoch at most
        last = checkpoint.load(run / "checkpoints" / "last.pt")
        lines = RunDir(run).history()
        assert last["history"][: len(lines)] == lines and len(lines) >= last["epoch"] - 1
    return temps


def _moments(steps_per_epoch: int, improved: list[int]) -> list[tuple[str, int]]:
    """Five kill points, drawn with a fixed seed, at increasing epochs so each resume progresses:
    mid-epoch 1 (no checkpoint yet), three write windows at epochs 2..EPOCHS, one while the
    finished run writes its final files."""
    rng = random.Random(8)
    while True:
        epochs = sorted(rng.sample(range(2, EPOCHS + 1), 3))
        kinds = rng.sample(["best.pt", "last.pt", "metrics.jsonl"], 3)
        if all(e in improved for e, k in zip(epochs, kinds) if k == "best.pt"):
            break
    return [("step", rng.randrange(1, steps_per_epoch)), *zip(kinds, epochs),
            (rng.choice(["metrics.json", "samples.npz", "test_details.json"]), 0)]


def _env(**extra: str) -> dict[str, str]:
    """The child runs this very gradkit (the one imported here), deterministically hashed."""
    src = str(Path(gk.__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "PYTHONHASHSEED": "0", **extra}


def _start(script: Path, args: list[str], pause: str, signal_file: Path) -> subprocess.Popen:
    env = _env(GK_PAUSE=pause, GK_SIGNAL=str(signal_file))
    return subprocess.Popen([sys.executable, str(script), "train", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _kill_at_pause(proc: subprocess.Popen, signal_file: Path) -> None:
    deadline = time.time() + 180
    while not signal_file.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    assert signal_file.exists(), f"the run never reached its pause point:\n{proc.communicate()[0]}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    signal_file.unlink()


def _untimed(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ("time", "epoch_seconds", "samples_per_s")}
            for r in history]


def _weights(run: Path, name: str) -> dict[str, torch.Tensor]:
    return checkpoint.load(run / "checkpoints" / name)["models"]["model"]


@pytest.fixture
def torch_state():
    """The in-process runs set one thread and deterministic algorithms: undo that afterwards."""
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(deterministic)


def test_kill_9_at_five_moments_then_resume_matches_an_uninterrupted_run(tmp_path, torch_state):
    script = tmp_path / "killable.py"
    script.write_text(KILLABLE)
    full = tmp_path / "full"  # the reference and the last resume run in this process: each
    # `python -m gradkit` start costs seconds of imports
    done = CliRunner().invoke(app, ["train", *TRAIN, "--out", str(full)])
    assert done.exit_code == 0, done.output
    history = RunDir(full).history()
    best, improved = float("inf"), []  # epochs whose best.pt write a kill can target
    for r in history:
        if r["val/loss"] < best:
            best = r["val/loss"]
            improved.append(r["epoch"])
    moments = _moments(history[0]["step"], improved)

    run, flag = tmp_path / "killed", tmp_path / "paused"
    for i, (kind, when) in enumerate(moments):
        args = [*TRAIN, "--out", str(run)] if i == 0 else ["--resume", str(run), "--quiet"]
        _kill_at_pause(_start(script, args, f"{kind}:{when}", flag), flag)
        temps = assert_consistent(run)
        if kind.endswith(".pt"):  # killed inside the write: the torn bytes sit in a temp file only
            assert [t.name.split(".")[1] for t in temps] == [kind.split(".")[0]], temps
            if kind == "last.pt":
                assert checkpoint.load(run / "checkpoints" / "last.pt")["epoch"] == when - 1
        if kind == "step":
            assert not (run / "checkpoints" / "last.pt").exists()  # resume must start over

    done = CliRunner().invoke(app, ["train", "--resume", str(run), "--quiet"])
    assert done.exit_code == 0, done.output
    assert assert_consistent(run) == []  # stale temp files were cleaned up on resume
    assert _untimed(RunDir(run).history()) == _untimed(history)
    a, b = ({k: v for k, v in json.loads((d / "metrics.json").read_text()).items()
             if not k.endswith("seconds")} for d in (full, run))
    assert a == b and "test/accuracy" in a
    for name in ("best.pt", "last.pt"):
        wa, wb = _weights(full, name), _weights(run, name)
        assert all(torch.equal(wa[k], wb[k]) for k in wa), name
    assert json.loads((run / "run.json").read_text())["status"] == "completed"


# ---------------------------------------------------------------- checkpoints never run code


class _Payload:
    """Unpickling this runs `exec`: it creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').close()",)


def test_a_checkpoint_carrying_code_is_refused_and_the_code_never_runs(tmp_path):
    run = gk.train("digits-mlp", train={"epochs": 1}, out=tmp_path / "run", output=FAST, **QUIET)
    marker = tmp_path / "code-ran"
    genuine = checkpoint.load(run.dir / "checkpoints" / "last.pt")
    for name in ("best.pt", "last.pt"):  # a genuine-looking checkpoint, one value swapped
        torch.save({**genuine, "models": {"model": _Payload(marker)}}, run.dir / "checkpoints" / name)
    refused = r"not plain weights \(.*exec.*\).*could run code"
    with pytest.raises(CheckpointError, match=refused):
        checkpoint.load(run.dir / "checkpoints" / "best.pt")
    with pytest.raises(CheckpointError, match=refused):
        gk.load(run.dir)
    with pytest.raises(CheckpointError, match=refused):
        gk.resume(run.dir, **QUIET)
    with pytest.raises(CheckpointError, match=refused):
        gk.evaluate(run.dir)
    with pytest.raises(ConfigError, match=refused):  # a run as a transfer-learning backbone
        gk.train("digits-from-fashion", model={"weights": str(run.dir)}, out=tmp_path / "t", **QUIET)
    result = CliRunner().invoke(app, ["predict", str(run.dir), str(tmp_path / "x.csv")])
    assert result.exit_code == 2 and "could run code" in result.output
    assert "Traceback" not in result.output
    assert not marker.exists()
    # the payload is real: a plain (unsafe) torch.load runs it
    torch.load(run.dir / "checkpoints" / "best.pt", weights_only=False)
    assert marker.exists()


def test_numpy_content_of_checkpoints_still_loads_but_cannot_smuggle_code(tmp_path):
    state = {"buffer": {"obs": np.ones((3, 4), np.float32), "dones": np.zeros(3, bool),
                        "actions": np.arange(3), "pos": 3},
             "rng": np.random.get_state(), "count": np.float64(2.5), "ints": np.int64(7)}
    checkpoint.save(tmp_path / "c.pt", state)
    back = checkpoint.load(tmp_path / "c.pt")
    np.testing.assert_array_equal(back["buffer"]["obs"], state["buffer"]["obs"])
    assert back["buffer"]["dones"].dtype == bool and back["count"] == 2.5 and back["ints"] == 7
    np.random.set_state(back["rng"])  # numpy's RNG state round-trips (resume needs it)
    marker = tmp_path / "code-ran"
    checkpoint.save(tmp_path / "o.pt", {"objects": np.array([{"a": 1}, _Payload(marker)], dtype=object)})
    with pytest.raises(CheckpointError, match="not plain weights"):
        checkpoint.load(tmp_path / "o.pt")
    assert not marker.exists()


# ---------------------------------------------------------------- disk full, permission denied


def _failing(monkeypatch, name: str, code: int, after: int, where: str) -> None:
    """Writes of `name` fail with `code` from the (after + 1)-th on. where=fsync: as a disk
    that fills up (the error surfaces when the data is flushed); where=create: as a folder that
    does not allow new files."""
    import tempfile

    seen = {"n": 0}

    def hit(path: str) -> bool:
        if not os.path.basename(path).startswith(f".{name}."):
            return False
        seen["n"] += 1
        return seen["n"] > after

    if where == "fsync":
        real = os.fsync

        def fsync(fd):
            if hit(os.readlink(f"/proc/self/fd/{fd}")):
                raise OSError(code, os.strerror(code))
            return real(fd)

        monkeypatch.setattr(os, "fsync", fsync)
    else:
        real_mkstemp = tempfile.mkstemp

        def mkstemp(*args, **kwargs):
            if hit(os.path.join(kwargs.get("dir", ""), kwargs.get("prefix", "") + "x")):
                raise OSError(code, os.strerror(code))
            return real_mkstemp(*args, **kwargs)

        monkeypatch.setattr(tempfile, "mkstemp", mkstemp)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads /proc/self/fd (Linux)")
def test_disk_full_while_checkpointing_stops_clearly_and_the_last_checkpoint_survives(tmp_path, monkeypatch):
    out = tmp_path / "run"
    _failing(monkeypatch, "last.pt", errno.ENOSPC, after=1, where="fsync")
    with pytest.raises(StorageError) as caught:
        gk.train("iris-mlp", train={"epochs": 3}, out=out, output=FAST, **QUIET)
    monkeypatch.undo()
    message = str(caught.value)
    assert f"could not write {out / 'checkpoints' / 'last.pt'}: No space left on device (ENOSPC)" in message
    assert "free disk space on the disk holding" in message and "MB free there now" in message
    assert "last complete checkpoint is intact" in message and f"--resume {out}" in message
    assert checkpoint.load(out / "checkpoints" / "last.pt")["epoch"] == 1
    assert assert_consistent(out) == []  # the failed write left no temp file
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "failed" and "ENOSPC" in info["error"]
    resumed = gk.resume(out, **QUIET)  # space is back: the run continues and finishes
    assert json.loads((resumed.dir / "run.json").read_text())["epochs_completed"] == 3


def test_permission_denied_on_the_checkpoint_folder_is_a_clear_cli_error(tmp_path, monkeypatch):
    out = tmp_path / "run"
    _failing(monkeypatch, "best.pt", errno.EACCES, after=1, where="create")
    result = CliRunner().invoke(app, ["train", "iris-mlp", "train.epochs=4", "optim.lr=0.05",
                                      "output.report=false", "--out", str(out), "--quiet"])
    monkeypatch.undo()
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and "Traceback" not in text
    assert "Permission denied (EACCES)" in text and "chmod u+w" in text
    assert "last complete checkpoint is intact" in text
    assert checkpoint.load(out / "checkpoints" / "best.pt")["epoch"] == 1
    assert assert_consistent(out) == []


def test_a_report_that_cannot_be_written_leaves_the_finished_run_whole(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    _failing(monkeypatch, "report.html", errno.ENOSPC, after=0, where="create")
    run = gk.train("iris-mlp", train={"epochs": 2}, out=out, output={"explain": False}, **QUIET)
    monkeypatch.undo()
    said = " ".join(capsys.readouterr().out.split())
    assert f"could not write {out / 'report.html'}: No space left on device (ENOSPC)" in said
    assert f"`gradkit report {out}` retries" in said
    assert not (out / "report.html").exists() and assert_consistent(out) == []
    assert json.loads((out / "run.json").read_text())["status"] == "completed"
    assert "test/accuracy" in run.metrics


def test_a_torn_last_line_of_metrics_jsonl_is_dropped_not_fatal(tmp_path):
    run = RunDir(tmp_path)
    run.write_metrics_history([{"epoch": 1}, {"epoch": 2}])
    with open(tmp_path / "metrics.jsonl", "a") as fh:
        fh.write('{"epoch": 3, "val/lo')  # another tool appending, killed mid-line
    assert run.history() == [{"epoch": 1}, {"epoch": 2}]
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 1}\nnot json\n{"epoch": 3}\n')
    with pytest.raises(CheckpointError, match="line 2 is not JSON"):
        run.history()


def test_a_doctored_cifar_batch_cannot_run_code_but_real_ones_load(tmp_path):
    import pickle

    from gradkit.data.images import load_cifar10
    from gradkit.errors import DataError

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:  # CIFAR's own layout
        batch = {"batch_label": name, "labels": list(range(10)) * 2,
                 "data": rng.integers(0, 256, (20, 3072), dtype=np.uint8)}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    data = load_cifar10(str(tmp_path), False, 0.1, 0, None)
    assert data.train.x.shape[1:] == (3, 32, 32) and len(data.test) == 20
    marker = tmp_path / "code-ran"
    (folder / "data_batch_1").write_bytes(pickle.dumps({"data": _Payload(marker), "labels": []}))
    with pytest.raises(DataError, match="refers to builtins.exec"):
        load_cifar10(str(tmp_path), False, 0.1, 0, None)
    assert not marker.exists()
