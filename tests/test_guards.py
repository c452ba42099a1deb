"""Hardening, round two (issue 19): inputs that used to be silently wrong are refused or read
correctly. Each test here failed on the main before the fix: a zero-width layer trained, a
section given as a scalar was replaced without a word, a CSV to predict was read by position,
class names were parsed as markup, a port beyond 65535 was accepted."""
import csv

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

import gradkit as gk
from gradkit.cli import app
from gradkit.errors import ConfigError

QUIET = {"verbose": False}


@pytest.fixture(autouse=True)
def _wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # rich tables and long paths on one line each


@pytest.mark.parametrize("recipe, override", [
    ("iris-mlp", "model.hidden=[0]"), ("iris-mlp", "model.hidden=[16, -3]"),
    ("digits-cnn", "model.channels=[8, 0]"), ("digits-cnn", "model.hidden=[0]"),
    ("fashion-autoencoder", "model.hidden=[0]"), ("cartpole-ppo", "rl.hidden=[64, 0]"),
    ("cartpole-dqn", "rl.hidden=[0]"),
])
def test_a_layer_of_no_width_is_refused(recipe, override):
    key = override.split("=")[0]
    with pytest.raises(ConfigError, match=key.replace(".", r"\.") + r".*greater than or equal to 1"):
        gk.resolve(recipe, overrides=[override])


def test_a_section_given_as_a_single_value_is_an_error_not_replaced(tmp_path):
    path = tmp_path / "my.yaml"
    path.write_text(yaml.safe_dump({"base": "iris-mlp", "train": 5}))
    with pytest.raises(ConfigError, match="train: 5 is a single value where a section belongs"):
        gk.resolve(file=path, overrides=["train.epochs=3"])
    result = CliRunner().invoke(app, ["train", "--config", str(path), "train.epochs=3"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "single value where a section belongs" in " ".join(result.output.split())
    # a section given by its name alone is that name: the override adds to it, losing nothing
    path.write_text(yaml.safe_dump({"base": "sunspots-lstm", "task": "forecast"}))
    cfg = gk.resolve(file=path, overrides=["task.label_smoothing=0"])
    assert cfg.task.name == "forecast"


def _iris_csv(path, names=("setosa [s]", "versicolor", "virginica")):
    from sklearn.datasets import load_iris

    bunch = load_iris()
    cols = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([*cols, "species"])
        for x, y in zip(bunch.data, bunch.target):
            w.writerow([*x, names[y]])
    return cols, bunch


@pytest.fixture(scope="module")
def iris_csv_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("guards")
    cols, bunch = _iris_csv(root / "iris.csv")
    run = gk.train("iris-mlp", out=root / "run", overrides=[
        "data.name=csv", f"data.path={root / 'iris.csv'}", "data.target=species", "train.epochs=60",
        "output.report=false", "output.explain=false"], **QUIET)
    return run, cols, bunch, root


def _write(path, header, rows):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def test_predict_matches_csv_columns_by_name(iris_csv_run, tmp_path):
    run, cols, bunch, _ = iris_csv_run
    picks = [0, 60, 120]  # one flower of each species
    rows = bunch.data[picks]
    _write(tmp_path / "ordered.csv", cols, rows.tolist())
    shuffled = [cols[i] for i in (3, 1, 0, 2)]
    _write(tmp_path / "shuffled.csv", shuffled, rows[:, [3, 1, 0, 2]].tolist())
    runner = CliRunner()
    ordered = runner.invoke(app, ["predict", str(run.dir), str(tmp_path / "ordered.csv"), "-k", "1"])
    swapped = runner.invoke(app, ["predict", str(run.dir), str(tmp_path / "shuffled.csv"), "-k", "1"])
    assert ordered.exit_code == 0 == swapped.exit_code, ordered.output + swapped.output
    top = [line.split(": ", 1)[1] for line in ordered.output.splitlines() if " row " in line]
    assert top == [line.split(": ", 1)[1] for line in swapped.output.splitlines() if " row " in line]
    assert top == ["setosa [s]", "versicolor", "virginica"]  # brackets printed, not eaten as markup
    assert "columns matched by name" in swapped.output
    # the training file itself (target column included) predicts too
    whole = runner.invoke(app, ["predict", str(run.dir), str(iris_csv_run[3] / "iris.csv"), "-k", "1"])
    assert whole.exit_code == 0 and "(the training target) ignored" in whole.output


@pytest.mark.parametrize("header, row, message", [
    (["sepal_length", "sepal_width", "petal_length"], [5.1, 3.5, 1.4], "lacks the column(s) petal_width"),
    (["sepal_length", "sepal_width", "petal_length", "petal_width", "colour"], [5.1, 3.5, 1.4, 0.2, 1],
     "not trained on: colour"),
    (["sepal_length", "sepal_width", "petal_length", "petal_width"], [5.1, "", 1.4, 0.2], "missing/NaN"),
    (["sepal_length", "sepal_width", "petal_length", "petal_width"], [5.1, "nan", 1.4, 0.2], "missing/NaN"),
    (["sepal_length", "sepal_width", "petal_length", "petal_width"], [5.1, "inf", 1.4, 0.2], "infinite"),
    (["sepal_length", "sepal_width", "petal_length", "petal_width"], [5.1, "wide", 1.4, 0.2], "not numeric"),
])
def test_predict_refuses_a_csv_it_cannot_read_as_training_did(iris_csv_run, tmp_path, header, row, message):
    run = iris_csv_run[0]
    _write(tmp_path / "bad.csv", header, [row])
    result = CliRunner().invoke(app, ["predict", str(run.dir), str(tmp_path / "bad.csv")])
    out = " ".join(result.output.split())
    assert result.exit_code == 2 and message in out and "Traceback" not in out, result.output
    assert "nan%" not in out


def test_serve_refuses_a_port_that_does_not_exist(iris_csv_run):
    for port in ("70000", "0", "-1"):
        result = CliRunner().invoke(app, ["serve", str(iris_csv_run[0].dir), "--port", port])
        assert result.exit_code == 2 and "1 to 65535" in result.output, result.output


def test_ctrl_c_says_where_the_run_stands(tmp_path, monkeypatch, capsys, stop_after):
    from gradkit.engine import supervised

    stop_after(2)
    with pytest.raises(KeyboardInterrupt):
        gk.train("iris-mlp", train={"epochs": 5}, out=tmp_path / "cut", **QUIET)
    said = capsys.readouterr().err
    assert "interrupted" in said and f"gradkit train --resume {tmp_path / 'cut'}" in said
    assert "after 2 recorded evaluation(s)" in said
    import json

    assert json.loads((tmp_path / "cut" / "run.json").read_text())["status"] == "interrupted"
    stop_after(None)

    # a Ctrl-C after the last epoch, during the final evaluation, leaves no run "running"
    def no_final(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(supervised, "final_metrics", no_final)
    with pytest.raises(KeyboardInterrupt):
        gk.train("iris-mlp", train={"epochs": 2}, out=tmp_path / "late", **QUIET)
    assert json.loads((tmp_path / "late" / "run.json").read_text())["status"] == "interrupted"
    assert "gradkit train --resume" in capsys.readouterr().err


def test_a_run_has_one_writer_and_a_dead_one_is_taken_over(tmp_path, capsys, stop_after):
    import json
    import os
    import signal
    import subprocess
    import sys

    from gradkit.errors import CheckpointError

    stop_after(1)
    with pytest.raises(KeyboardInterrupt):
        gk.train("iris-mlp", train={"epochs": 3}, out=tmp_path / "run", output={"report": False}, **QUIET)
    stop_after(None)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from gradkit.rundir import RunDir; RunDir(sys.argv[1]).claim(); "
        "print('held', flush=True); time.sleep(120)"), str(tmp_path / "run")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(CheckpointError, match=f"being written by process {holder.pid} .*one writer"):
            gk.resume(tmp_path / "run", **QUIET)
        result = CliRunner().invoke(app, ["train", "--resume", str(tmp_path / "run"), "-q"])
        assert result.exit_code == 2 and f"process {holder.pid}" in result.output
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    # the holder died without releasing: the kernel freed the lock, and the next writer says so
    capsys.readouterr()
    run = gk.resume(tmp_path / "run", **QUIET)
    assert f"took the run over from process {holder.pid}" in capsys.readouterr().err
    assert json.loads((run.dir / "run.json").read_text())["status"] == "completed"
    assert len((run.dir / "metrics.jsonl").read_text().splitlines()) == 3
    assert (run.dir / ".writer.lock").read_text() == ""  # released when it finished


# ---------------------------------------------------------------- every command, every damage

DAMAGES = {
    "run.json not an object": lambda run: (run / "run.json").write_text("[1, 2, 3]"),
    "metrics.jsonl not UTF-8": lambda run: (run / "metrics.jsonl").write_bytes(b'{"epoch": 1}\n\xff\xfe\x00oops\n'),
    "config.yaml not YAML": lambda run: (run / "config.yaml").write_text("name: [unclosed\n  - {: :"),
    "read-only": None,  # every new file in the run directory refused (EACCES), as a read-only folder
}


def _commands(run, root, tmp):
    image = tmp / "seven.png"
    from PIL import Image

    Image.fromarray((np.eye(8) * 255).astype(np.uint8)).save(image)
    return {
        "report": ["report", run], "runs": ["runs", "--root", root],
        "runs compare": ["runs", "compare", run, run], "evaluate": ["evaluate", run],
        "predict": ["predict", run, image], "explain": ["explain", run, "-n", "2", "--steps", "4"],
        "export": ["export", run, "--format", "bundle", "--out", tmp / "bundle"],
        "sample": ["sample", run, "--out", tmp / "s.png"], "reconstruct": ["reconstruct", run, image],
        "anomaly": ["anomaly", run, "--out", tmp / "a.png"], "play": ["play", run, "-n", "1"],
        "train --resume": ["train", "--resume", run, "-q"],
        "serve": ["serve", run, "--port", "8765"],
    }


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    gk.train("digits-mlp", train={"epochs": 2}, out=root / "good", output={"explain": False}, **QUIET)
    return root / "good"


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_every_command_fails_cleanly_on_a_damaged_or_read_only_run(finished_run, tmp_path, damage,
                                                                   monkeypatch):
    import errno
    import shutil
    import tempfile

    root = tmp_path / "runs"
    run = root / "broken"
    shutil.copytree(finished_run, run)
    shutil.copytree(finished_run, root / "fine")  # one bad run must not hide the others
    if DAMAGES[damage]:
        DAMAGES[damage](run)
    else:
        real = tempfile.mkstemp

        def refused(*args, **kwargs):
            if str(kwargs.get("dir", "")).startswith(str(run)):
                raise PermissionError(errno.EACCES, "Permission denied", str(kwargs["dir"]))
            return real(*args, **kwargs)

        monkeypatch.setattr(tempfile, "mkstemp", refused)
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: None)  # a run that still serves: do not block
    runner = CliRunner()
    for name, args in _commands(run, root, tmp_path).items():
        result = runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "400"})
        out = result.output
        assert result.exit_code in (0, 2), f"{name} on {damage}: exit {result.exit_code}\n{out}"
        assert "Traceback" not in out and not isinstance(result.exception, Exception) \
            or isinstance(result.exception, SystemExit), f"{name} on {damage}: {result.exception!r}\n{out}"
        if result.exit_code == 2:
            assert out.strip().startswith("error:") or "\nerror:" in out, f"{name} on {damage}: {out}"
        if name == "runs":
            assert str(root / "fine") in " ".join(out.split()) or "fine" in out
            if damage != "read-only":
                assert "damaged" in out, out


def test_help_keeps_its_brackets():
    result = CliRunner().invoke(app, ["train", "--help"], terminal_width=200)
    assert result.exit_code == 0 and "model.hidden=[256,128]" in " ".join(result.output.split())


def test_resume_from_best_copied_over_a_damaged_last(tmp_path, capsys, stop_after):
    import json
    import shutil

    from gradkit.errors import CheckpointError

    stop_after(2)
    with pytest.raises(KeyboardInterrupt):
        gk.train("iris-mlp", train={"epochs": 4, "monitor": "epoch"}, out=tmp_path / "r",
                 output={"report": False}, **QUIET)
    stop_after(None)
    ckpts = tmp_path / "r" / "checkpoints"
    (ckpts / "last.pt").write_bytes((ckpts / "last.pt").read_bytes()[:100])  # a torn write
    with pytest.raises(CheckpointError, match="copy .*best.pt over it"):
        gk.resume(tmp_path / "r", **QUIET)
    shutil.copy(ckpts / "best.pt", ckpts / "last.pt")  # as the message advises
    capsys.readouterr()
    run = gk.resume(tmp_path / "r", **QUIET)
    assert "holds weights only" in capsys.readouterr().err
    history = [json.loads(line) for line in (run.dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in history] == [1, 2, 3, 4]  # epochs 3 and 4 trained after it
    assert json.loads((run.dir / "run.json").read_text())["status"] == "completed"


def test_predict_refuses_a_decompression_bomb_cleanly(tmp_path, monkeypatch):
    from PIL import Image

    run = gk.train("digits-mlp", train={"epochs": 1}, out=tmp_path / "r", output={"report": False},
                   **QUIET)
    Image.new("L", (400, 400)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)  # 160,000 > 2 x 10,000: a bomb to Pillow
    result = CliRunner().invoke(app, ["predict", str(run.dir), str(tmp_path / "big.png")])
    assert result.exit_code == 2 and "too large to decode safely" in " ".join(result.output.split())
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args, message", [
    (["train", "fashion-mlp", "train.epoch=3"], "train.epoch"),
    (["train", "fashoin-mlp"], "did you mean 'fashion-mlp'"),
    (["train", "iris-mlp", "data.name=csv", "data.path=/nowhere/rows.csv", "data.target=y"],
     "CSV file not found: /nowhere/rows.csv"),
    (["train", "digits-cnn", "data.name=image-folder", "data.dir=/nowhere/pics"], "folder not found"),
    (["train", "digits-mlp", "model.name=mpl"], "unknown model 'mpl' (did you mean 'mlp'?)"),
    (["train", "digits-mlp", "model.hiden=[8]"], "unknown key 'model.hiden' for model.name=mlp "
                                                 "(did you mean 'model.hidden'?)"),
    (["train", "digits-mlp", "data.name=digit"], "unknown data set 'digit'"),
    (["train", "digits-mlp", "task.name=clasification"], "unknown task 'clasification'"),
    (["train", "digits-mlp", "task.noise=0.2"], "task.noise applies to task.name=reconstruct"),
    (["train", "cartpole-ppo", "rl.algo=ppo2"], "unknown RL algorithm 'ppo2'"),
    (["train", "cartpole-ppo", "rl.n_step=64"], "unknown key 'rl.n_step'"),
    (["train", "digits-mlp", "output.track=[tensorbord]"], "unknown tracker 'tensorbord'"),
    (["train", "adding-rnn-vs-lstm", "variants.lstm.model.name=lstmm"], "variant 'lstm'"),
    (["train", "digits-mlp", "model.hidden=abc"], "model.hidden: 'abc' is not a list of integers >= 1"),
    (["train", "digits-mlp", "model.dropout=high"], "model.dropout: 'high' is not a number"),
    (["train", "cartpole-ppo", "rl.clip_coef=-1"], "rl.clip_coef: -1 is not a number > 0"),
    (["train", "cartpole-dqn", "rl.torso=conv"], "rl.torso: 'conv' is not one of auto, mlp, nature, minatar"),
])
def test_a_config_mistake_is_said_before_torch_is_imported(args, message):
    """Fast failure: the schema and the data paths are checked with nothing heavy imported (the
    time it takes is measured in benchmarks/fast_failure.py)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "gradkit", *args],
                          capture_output=True, text=True, timeout=120)
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()
                if line.startswith("import time:")}
    out = " ".join(line for line in done.stdout.split())
    assert done.returncode == 2 and message in out, done.stdout + done.stderr[-2000:]
    assert "torch" not in imported and "Traceback" not in done.stderr


def test_the_catalogue_of_names_is_what_the_registries_hold():
    """gradkit.config.catalog checks names without importing torch from a generated file: it
    must list exactly what is registered (and the full check must agree with it)."""
    import json
    import subprocess
    import sys

    from gradkit.config import catalog as fast

    # a fresh process: other tests register their own data sets and models in this one
    code = "import json; from gradkit.engine.configs import catalog; print(json.dumps(catalog()))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert fast.load() == json.loads(done.stdout), ("src/gradkit/config/catalog.json is stale: "
                                                    "regenerate it with make docs")


@pytest.mark.parametrize("overrides", [["model.name=mpl"], ["model.hiden=[8]"], ["data.name=digit"],
                                       ["task.noise=0.2"], ["model.widths=4"], ["model.hidden=[0]"]])
def test_the_fast_check_and_the_full_check_refuse_the_same_configs(overrides):
    """What the catalogue refuses before torch loads, the registries refuse too (and name the
    same key), so the fast path never rejects a config the full validation would accept."""
    from gradkit import config as C
    from gradkit.config import catalog as fast
    from gradkit.engine.configs import resolve
    from gradkit.errors import ConfigError

    raw, _, where = C.gather("digits-mlp", None, overrides)
    with pytest.raises(ConfigError) as quick:
        fast.check(C.parse(raw, where), where)
    with pytest.raises(ConfigError) as full:
        resolve("digits-mlp", overrides=overrides)
    key = overrides[-1].split("=")[0].split(".")[-1]
    assert key in str(quick.value) and key in str(full.value)


def test_the_fast_check_accepts_every_shipped_recipe():
    from gradkit import config as C
    from gradkit.config import catalog as fast

    checked = []
    for name in C.recipe_names():
        raw, extra, where = C.gather(name)
        cfg = C.parse(raw, where)
        fast.check(cfg, where)  # raises ConfigError on a false refusal
        checked.append(name)
        for merged, source in C.variant_raws(raw, extra, cfg, where).values():
            fast.check(C.parse(merged, source), source)
            checked.append(source)
    assert len(checked) > len(C.recipe_names()) and "minatar-breakout-dqn" in checked


PROBES = ["abc", "yes", "64", 5, 0, -1, 2.5, 1e9, True, None, [8], [0], ["a"], {"a": 1}]


def test_the_fast_check_never_refuses_a_value_the_full_check_accepts():
    """gradkit.config.catalog.accepts, against pydantic itself: for every key of every registered
    model and RL algorithm and a spread of probe values, a value the fast check refuses is refused
    by the model's (algorithm's) own config class too; and it does refuse some (it checks)."""
    from pydantic import ValidationError

    from gradkit.config import catalog as fast
    from gradkit.models import MODELS
    from gradkit.rl import ALGOS

    refused = 0
    entries = [(MODELS.get(n).config, fast.load()["models"][n], {}) for n in MODELS.names()]
    entries += [(ALGOS.get(n).config, fast.load()["rl"][n], {"algo": n}) for n in ALGOS.names()]
    for cls, rules, base in entries:
        for key, rule in rules.items():
            if rule is None or key == "algo":
                continue
            for value in PROBES:
                if fast.accepts(rule, value):
                    continue
                refused += 1
                with pytest.raises(ValidationError):
                    cls.model_validate({**base, key: value})
    assert refused > 200
