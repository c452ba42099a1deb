"""Hyperparameter tuning (`gradkit tune`) and the learning-rate range test (`gradkit lr-find`)."""
import json

import pytest
import yaml
from typer.testing import CliRunner

import gradkit as gk
from gradkit.cli import app
from gradkit.errors import ConfigError
from gradkit.rundir import RunDir
from gradkit.tune.study import tune

pytest.importorskip("optuna")  # the `tune` extra
LR = "optim.lr=loguniform:1e-4:1e-1"
FAST = ["train.epochs=3", "output.report=false"]  # iris-mlp: each trial well under a second


def _trials(study_dir):
    return json.loads((study_dir / "trials.json").read_text())


def test_three_trial_study_writes_a_best_yaml_that_reproduces_its_best_trial(tmp_path):
    out = tmp_path / "study"
    result = tune("iris-mlp", space=[LR, "train.batch_size=choice:8,16"], trials=3, overrides=FAST,
                  pruner="none", out=out, verbose=False)
    rows = _trials(out)
    assert [r["state"] for r in rows] == ["complete"] * 3 and result.counts["complete"] == 3
    assert result.direction == "minimize" and result.metric == "val/loss"  # the recipe's monitor
    best = min(rows, key=lambda r: r["value"])
    assert result.best_trial == best["number"] and result.best_value == best["value"]
    for r in rows:  # each trial is an ordinary run with its values, scored on its metrics.json
        cfg = gk.engine.load_file(out / r["run_dir"] / "config.yaml")
        assert cfg.optim.lr == r["values"]["optim.lr"] and cfg.train.batch_size == r["values"]["train.batch_size"]
        assert r["value"] == json.loads((out / r["run_dir"] / "metrics.json").read_text())["val/loss"]
        assert len(r["intermediate"]) == 3

    raw = yaml.safe_load(result.best_yaml.read_text())
    assert raw["base"] == "iris-mlp" and raw["optim"]["lr"] == best["values"]["optim.lr"]
    code = CliRunner().invoke(app, ["train", "-c", str(result.best_yaml), "--out",
                                    str(tmp_path / "again"), "-q"])
    assert code.exit_code == 0, code.output
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert again["val/loss"] == pytest.approx(best["value"], rel=1e-5)  # same config, same seed

    html = (out / "report.html").read_text()
    assert html.count('<img src="data:image/png;base64,') == 4  # history, curves, coords, importances
    assert "gradkit train -c" in html and "Trials" in html


def test_interrupted_study_resumes_with_its_earlier_trials(tmp_path, monkeypatch):
    import gradkit.engine

    out = tmp_path / "study"
    real = gradkit.engine.execute
    calls = []

    def stop_on_third(cfg, **kw):
        calls.append(cfg.optim.lr)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(cfg, **kw)

    monkeypatch.setattr(gradkit.engine, "execute", stop_on_third)
    with pytest.raises(KeyboardInterrupt):
        tune("iris-mlp", space=[LR], trials=4, overrides=FAST, out=out, verbose=False)
    monkeypatch.setattr(gradkit.engine, "execute", real)
    import optuna

    from gradkit.tune.study import STUDY, storage

    first = optuna.load_study(study_name=STUDY, storage=storage(out)).trials
    assert [t.state.name for t in first] == ["COMPLETE", "COMPLETE", "FAIL"]

    tune("iris-mlp", space=[LR], trials=3, overrides=FAST, out=out, verbose=False)
    rows = _trials(out)
    assert [r["state"] for r in rows] == ["complete", "complete", "fail", "complete"]
    assert rows[2]["interrupted"] and rows[3]["values"] == rows[2]["values"]  # retried first
    assert [r["value"] for r in rows[:2]] == [t.value for t in first[:2]]  # kept, not re-run
    assert [r["values"]["optim.lr"] for r in rows[:3]] == calls

    # a killed process leaves its trial "running": the next start fails and retries it too
    study = optuna.load_study(study_name=STUDY, storage=storage(out))
    killed = study.ask({"optim.lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)})
    result = tune("iris-mlp", space=[LR], trials=4, overrides=FAST, out=out, verbose=False)
    rows = _trials(out)
    assert rows[killed.number]["interrupted"] and rows[-1]["values"] == rows[killed.number]["values"]
    assert result.counts == {"complete": 4, "pruned": 0, "fail": 2}


def test_jobs_split_the_trials_between_workers_sharing_one_storage(tmp_path, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    import gradkit.tune.study as study

    # Threads stand in for the worker processes here: spawning two Python processes that each
    # import torch would cost this test ~10 s; what is checked is the split and the storage.
    monkeypatch.setattr(study, "ProcessPoolExecutor",
                        lambda max_workers, mp_context: ThreadPoolExecutor(max_workers))
    result = tune("iris-mlp", space=[LR], trials=3, overrides=FAST, pruner="none", jobs=2,
                  out=tmp_path / "s", verbose=False)
    rows = _trials(tmp_path / "s")
    assert result.counts["complete"] == 3 and len(rows) == 3
    assert len({r["values"]["optim.lr"] for r in rows}) == 3  # each worker samples its own seed


def test_the_median_pruner_stops_a_hopeless_trial_after_one_epoch(tmp_path):
    out = tmp_path / "study"
    result = tune("iris-mlp", space=["optim.lr=loguniform:1e-7:1e-1"], trials=2,
                  overrides=["train.epochs=6", "output.report=false"], startup_trials=1,
                  enqueue=[{"optim.lr": 3e-2}, {"optim.lr": 1e-7}], out=out, verbose=False)
    good, hopeless = _trials(out)
    assert good["state"] == "complete" and good["epochs"] == 6
    assert hopeless["state"] == "pruned" and hopeless["epochs"] == 1
    info = RunDir(out / hopeless["run_dir"]).read_json("run.json")
    assert info["epochs_completed"] == 1
    assert info["stop_reason"].startswith("pruned by the median pruner after epoch 1 (val/loss")
    assert result.counts == {"complete": 1, "pruned": 1, "fail": 0}
    assert "importances need two or more completed trials" in (out / "report.html").read_text()


def test_rl_recipes_tune_on_the_evaluation_return(tmp_path):
    pytest.importorskip("gymnasium")
    result = tune("cartpole-ppo", space=["rl.lr=loguniform:1e-4:1e-2"], trials=2, out=tmp_path / "s",
                  overrides=["rl.n_envs=2", "rl.n_steps=64", "rl.total_steps=256", "rl.eval_every=256",
                             "rl.eval_episodes=2", "output.report=false"], verbose=False)
    assert result.metric == "eval/mean_return" and result.direction == "maximize"
    assert result.counts["complete"] == 2 and 8 <= result.best_value <= 500


def test_a_study_over_seeds_scores_each_trial_by_the_aggregate_of_its_seeds(tmp_path):
    """--seeds/--aggregate (issue 21): every trial runs on each seed; an RL run that never solves
    counts at its whole budget of env steps, not as a missing value."""
    pytest.importorskip("gymnasium")
    out = tmp_path / "s"
    tiny = ["rl.n_envs=2", "rl.n_steps=32", "rl.total_steps=256", "rl.eval_every=64",
            "rl.eval_episodes=2", "output.report=false"]
    # threshold 5: every CartPole episode lasts longer, solved at the first evaluation;
    # 1e5: never solved
    result = tune("cartpole-ppo", space=["rl.solve_threshold=choice:5,100000"], trials=2,
                  overrides=tiny, out=out, seeds="3-4", aggregate="max",
                  metric="eval/steps_to_solve", pruner="none", verbose=False,
                  enqueue=[{"rl.solve_threshold": 5}, {"rl.solve_threshold": 100000}])
    assert result.direction == "minimize"
    rows = _trials(out)
    solved, never = rows
    for row in rows:
        assert sorted(row["seed_values"]) == ["3", "4"]
        for seed in (3, 4):
            run = out / row["run_dir"] / f"seed-{seed}"
            assert gk.engine.load_file(run / "config.yaml").seed == seed
            metrics = json.loads((run / "metrics.json").read_text())
            expected = metrics["eval/steps_to_solve"] if metrics["eval/solved"] else metrics["train/steps"]
            assert row["seed_values"][str(seed)] == expected
        assert row["value"] == max(row["seed_values"].values())
    assert solved["unsolved_seeds"] == [] and solved["value"] == 64  # the first evaluation
    assert never["unsolved_seeds"] == [3, 4] and never["value"] == 256  # the whole budget
    assert result.best_trial == 0 and result.best_value == 64
    assert "max of eval/steps_to_solve over 2 seeds" in result.best_yaml.read_text()
    html = (out / "report.html").read_text()
    assert "<td>seed 3</td>" in html and "never solved" not in html.split(">Trials<")[0]
    assert "2: 256 to 256, 2 unsolved" in html and "scored by their max" in html
    with pytest.raises(ConfigError, match="other settings .*seeds"):  # resumed with other seeds
        tune("cartpole-ppo", space=["rl.solve_threshold=choice:5,100000"], trials=3,
             overrides=tiny, out=out, seeds="3-5", aggregate="max",
             metric="eval/steps_to_solve", pruner="none", verbose=False)


@pytest.mark.parametrize("args, message", [
    (["--seeds", "0-x"], "give a count"),
    (["--seeds", "0"], "one or more distinct seeds"),
    (["--seeds", "3", "--aggregate", "p900"], "is not one of: mean, median"),
    (["--seeds", "3", "--aggregate", "meen"], r"did you mean 'mean'\?"),
])
def test_bad_seeds_or_aggregate_exit_2_with_the_fix(tmp_path, args, message):
    import re

    code = CliRunner().invoke(app, ["tune", "iris-mlp", "-s", LR, "--out", str(tmp_path / "s"), *args])
    assert code.exit_code == 2 and re.search(message, code.output), code.output
    assert "Traceback" not in code.output and not (tmp_path / "s").exists()


@pytest.mark.parametrize("space, extra, message", [
    (["optim.lr=logunif:1e-4:1"], {}, r"unknown distribution 'logunif' \(did you mean 'loguniform'\?\)"),
    (["optim.lr=loguniform:0:1"], {}, "needs a low bound above 0"),
    (["optim.lr=uniform:1:0.1"], {}, "the low bound must be below the high one"),
    (["optim.lr=uniform:a:b"], {}, "bounds must be numbers"),
    (["model.hidden=int:1.5:4"], {}, "bounds must be whole numbers"),
    (["train.batch_size=choice:32"], {}, "choice needs two or more values"),
    (["optim.lrr=loguniform:1e-4:1"], {}, r"unknown config key \(did you mean 'optim.lr'\?\)"),
    (["model.hiden=choice:[8],[16]"], {}, r"did you mean 'model.hidden'\?"),
    (["optimm.lr=uniform:0:1"], {}, r"optimm is not a config section \(did you mean 'optim'\?\)"),
    (["optim=uniform:0:1"], {}, "optim is a section; name one of its keys"),
    (["output.dir=choice:a,b"], {}, "output is not a hyperparameter"),
    (["train.batch_size=int:0:8"], {}, r"train.batch_size=0 is not a valid value"),
    (["optim.lr=uniform:0.1:1", "optim.lr=uniform:0.1:1"], {}, "names optim.lr more than once"),
    ([], {}, "give at least one --space"),
    ([LR], {"metric": "test/accuracy"}, "test metrics would choose on the test split"),
    ([LR], {"direction": "maximise"}, r"did you mean 'maximize'\?"),
    ([LR], {"pruner": "medain"}, r"did you mean 'median'\?"),
])
def test_bad_studies_fail_before_any_trial(tmp_path, space, extra, message):
    with pytest.raises(ConfigError, match=message):
        tune("iris-mlp", space=space, out=tmp_path / "s", verbose=False, **extra)
    assert not (tmp_path / "s").exists()


def test_a_study_directory_resumes_only_with_its_own_settings(tmp_path):
    tune("iris-mlp", space=[LR], trials=1, overrides=FAST, out=tmp_path / "s", verbose=False)
    with pytest.raises(ConfigError, match="holds a study with other settings .*space"):
        tune("iris-mlp", space=["optim.lr=loguniform:1e-3:1e-1"], trials=2, overrides=FAST,
             out=tmp_path / "s", verbose=False)
    with pytest.raises(ConfigError, match="trains 2 variants"):
        tune("adding-rnn-vs-lstm", space=[LR], out=tmp_path / "v", verbose=False)


def test_tune_direction_follows_the_metric():
    from gradkit.tune.study import _direction

    assert _direction("val/loss") == "minimize" and _direction("val/rmse") == "minimize"
    assert _direction("val/accuracy") == "maximize" and _direction("eval/mean_return") == "maximize"
    assert _direction("eval/seconds_to_solve") == "minimize" == _direction("eval/steps_to_solve")


def test_lr_find_suggests_a_sane_rate_for_digits_and_prints_the_command(tmp_path):
    result = CliRunner().invoke(app, ["lr-find", "digits-mlp", "--out", str(tmp_path / "lr")])
    assert result.exit_code == 0, result.output
    found = json.loads((tmp_path / "lr" / "lr_find.json").read_text())
    assert (tmp_path / "lr" / "lr_find.png").stat().st_size > 10_000
    # Adam on this MLP trains well from 1e-3 to 1e-2 (the recipe: 1e-3, 0.964; 5.9e-3: 0.972).
    assert 1e-3 <= found["suggestion"] <= 2e-2 and 1e-4 <= found["min_loss_lr"] <= 2e-2
    lrs = found["lrs"]
    assert lrs[0] == pytest.approx(1e-7) and all(b > a for a, b in zip(lrs, lrs[1:]))
    assert "diverged" in found["stopped"] and lrs[-1] < 10  # stopped early, on divergence
    assert found["command"] == f"gradkit train digits-mlp optim.lr={found['suggestion']:.3g}"
    assert found["command"] in " ".join(result.output.split())


def test_lr_find_readings_on_a_known_curve():
    import numpy as np

    from gradkit.tune.lr_find import readings

    lrs = np.logspace(-6, 0, 61)
    loss = 2 - np.tanh(np.log10(lrs) + 3)  # falls fastest at lr 1e-3, lowest at the end
    loss[50:] = loss[49] + np.linspace(0, 5, 11)  # then diverges past lr 1e-1
    steepest, min_tenth = readings(lrs, loss)
    assert steepest == pytest.approx(1e-3) and min_tenth == pytest.approx(lrs[49] / 10)


def test_lr_find_refuses_what_it_cannot_sweep(tmp_path):
    from gradkit.tune.lr_find import lr_find

    with pytest.raises(ConfigError, match="reinforcement-learning recipe"):
        lr_find("cartpole-ppo", out=tmp_path / "x", verbose=False)
    with pytest.raises(ConfigError, match="need 0 < start < end"):
        lr_find("digits-mlp", start=1.0, end=0.1, verbose=False)
    result = CliRunner().invoke(app, ["tune", "iris-mlp", "-s", "optim.lr=loguniform:-1:1"])
    assert result.exit_code == 2 and "needs a low bound above 0" in result.output


def test_tune_without_optuna_names_the_extra(monkeypatch):
    import sys

    from gradkit.errors import GradkitError

    monkeypatch.setitem(sys.modules, "optuna", None)  # `import optuna` now raises ImportError
    with pytest.raises(GradkitError, match=r"pip install 'gradkit\[tune\]'"):
        tune("iris-mlp", space=[LR], verbose=False)
