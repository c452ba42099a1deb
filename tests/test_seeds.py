"""Repeated seeds (issue 18 part 1): every (variant, seed) an ordinary run under one parent, a
summary whose numbers are numpy's and scipy's, and verdicts that call seed noise seed noise."""
import json

import numpy as np
import pytest
import scipy.stats
import yaml
from typer.testing import CliRunner

import gradkit as gk
from gradkit.cli import app
from gradkit.report.stats import summarize, verdict, welch

QUIET = {"verbose": False}


def test_stats_are_numpy_and_scipy():
    x = [0.91, 0.93, 0.90, 0.94, 0.92]
    s = summarize(x)
    assert s["mean"] == pytest.approx(np.mean(x)) and s["sd"] == pytest.approx(np.std(x, ddof=1))
    lo, hi = scipy.stats.t.interval(0.95, len(x) - 1, loc=np.mean(x), scale=scipy.stats.sem(x))
    assert s["ci95"] == pytest.approx([lo, hi]) and (s["min"], s["max"]) == (0.90, 0.94)
    y = [0.80, 0.86, 0.83, 0.79]
    w = welch(x, y)
    ref = scipy.stats.ttest_ind(y, x, equal_var=False).confidence_interval(0.95)
    assert w["diff"] == pytest.approx(np.mean(y) - np.mean(x))
    assert w["ci95"] == pytest.approx([ref.low, ref.high])
    assert verdict(w, higher_is_better=True, n=4) == "worse"
    assert verdict(w, higher_is_better=False, n=4) == "better"
    assert verdict(welch(x, x[::-1]), True, 5) == "no difference distinguishable from seed noise at n=5"
    assert summarize([0.5])["ci95"] is None and "not measurable" in verdict(welch([1], [2]), True, 1)


def test_which_way_is_better():
    """Every derived measurement a lesson checks reads the right way (seconds/epoch was once
    taken for higher-is-better, turning 'faster' into 'contradicted')."""
    from gradkit.report.stats import higher_is_better

    for lower in ("test/loss", "val/mase", "seconds/epoch", "train/seconds", "reach/seconds",
                  "reach/epochs", "eval/steps_to_solve", "test/fid", "test/nelbo", "val/loss@1"):
        assert higher_is_better(lower) is False, lower
    for higher in ("test/accuracy", "val/accuracy@1", "eval/mean_return", "test/r2",
                   "grads/first_over_last", "test/macro_f1"):
        assert higher_is_better(higher) is True, higher


def test_a_recipe_with_seeds_writes_a_summary(tmp_path):
    runs = gk.train("digits-mlp", seeds=3, train={"epochs": 2}, out=tmp_path / "p", **QUIET)
    assert list(runs) == [0, 1, 2] and all((tmp_path / "p" / f"s{s}" / "config.yaml").is_file() for s in runs)
    assert [r.config.seed for r in runs.values()] == [0, 1, 2] and runs[0].config.seeds is None
    summary = json.loads((tmp_path / "p" / "summary.json").read_text())
    values = [runs[s].metrics["test/accuracy"] for s in (0, 1, 2)]
    stats = summary["variants"]["digits-mlp"]["test/accuracy"]
    assert stats["values"] == pytest.approx(values) and stats["mean"] == pytest.approx(np.mean(values))
    assert stats["sd"] == pytest.approx(np.std(values, ddof=1))
    majority = summary["variants"]["digits-mlp"]["baseline/majority/accuracy"]
    assert majority["n"] == 3  # the baselines are summarised too
    html = (tmp_path / "p" / "report.html").read_text()
    assert 'id="seeds"' in html and "mean ± sample standard deviation" in html


def test_identical_variants_tie_and_a_broken_one_is_worse(tmp_path):
    recipe = {"base": "digits-mlp", "train": {"epochs": 3}, "seeds": [0, 1, 2],
              "variants": {"adam": {}, "adam-again": {}, "frozen": {"optim": {"lr": 1e-7}}}}
    path = tmp_path / "lesson.yaml"
    path.write_text(yaml.safe_dump(recipe))
    runs = gk.train(config_file=path, out=tmp_path / "p", **QUIET)
    assert set(runs) == {"adam", "adam-again", "frozen"} and list(runs["adam"]) == [0, 1, 2]
    summary = json.loads((tmp_path / "p" / "summary.json").read_text())
    verdicts = {c["variant"]: c["verdict"] for c in summary["comparisons"]}
    assert summary["metric"] == "test/loss" and summary["higher_is_better"] is False
    assert verdicts["adam-again"] == "no difference distinguishable from seed noise at n=3"
    assert verdicts["frozen"] == "worse"
    out = CliRunner().invoke(app, ["report", str(tmp_path / "p")])
    assert out.exit_code == 0 and (tmp_path / "p" / "report.html").is_file()


def test_cli_seeds_prints_the_spread(tmp_path):
    out = CliRunner().invoke(app, ["train", "iris-mlp", "train.epochs=3", "--seeds", "2", "-q",
                                   "--out", str(tmp_path / "p")])
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    assert "mean ± sd [95% CI] over seeds" in text and "iris-mlp" in text
    compared = CliRunner().invoke(app, ["runs", "compare", str(tmp_path / "p"), str(tmp_path / "p" / "s0")],
                                  env={"COLUMNS": "200"})
    assert compared.exit_code == 0, compared.output
    assert "p [iris-mlp]" in compared.output and " ± " in compared.output and "s0" in compared.output
    bad = CliRunner().invoke(app, ["train", "iris-mlp", "seeds=0", "-q"])
    assert bad.exit_code == 2 and "train with 1 or more seeds" in " ".join(bad.output.split())


def test_rl_seeds_compare_returns(tmp_path):
    runs = gk.train("cartpole-ppo", seeds=2, rl={"total_steps": 1024, "eval_every": 512},
                    out=tmp_path / "p", **QUIET)
    summary = json.loads((tmp_path / "p" / "summary.json").read_text())
    assert summary["metric"] == "eval/mean_return" and summary["higher_is_better"] is True
    assert summary["variants"]["cartpole-ppo"]["eval/mean_return"]["n"] == 2 == len(runs)


def test_generative_seeds_compare_the_elbo(tmp_path):
    gk.train(data={"name": "digits"}, model={"name": "vae", "arch": "mlp", "hidden": [32], "latent": 4},
             task={"name": "vae"}, train={"epochs": 1, "monitor": "val/nelbo"}, seeds=2,
             out=tmp_path / "p", output={"report": False}, **QUIET)
    summary = json.loads((tmp_path / "p" / "summary.json").read_text())
    assert summary["metric"] == "test/nelbo" and summary["higher_is_better"] is False
    (stats,) = summary["variants"].values()
    assert stats["test/nelbo"]["n"] == 2 and stats["test/nelbo"]["mean"] > 0
    assert stats["test/nelbo"]["mean"] == pytest.approx(np.mean(stats["test/nelbo"]["values"]))


def test_runs_lists_the_spread_of_seeded_parents(tmp_path):
    from gradkit.listing import list_runs

    gk.train("iris-mlp", seeds=2, train={"epochs": 2}, out=tmp_path / "p", output={"report": False}, **QUIET)
    rows = list_runs(tmp_path, seeds=True)
    spread = [r for r in rows if r["status"] == "2 seeds"]
    assert len(spread) == 1 and " ± " in spread[0]["test/accuracy"]
    assert len([r for r in rows if r["status"] != "2 seeds"]) == 2  # and each seed's own run


def test_children_share_one_data_set_per_seed_and_train_as_alone(tmp_path, monkeypatch):
    """A parent's children load and split their data set once per seed (issue 24), and sharing
    it changes nothing: a child's metrics are those of the same run trained on its own."""
    import gradkit.data
    from gradkit.engine import builder

    real, built = gradkit.data.build, []

    def counting(cfg, targets=None, seed=0):
        built.append(seed)
        return real(cfg, targets, seed)

    monkeypatch.setattr(gradkit.data, "build", counting)
    over = ["train.epochs=2", "output.report=false", "output.explain=false"]
    runs = gk.train("digits-mlp", out=tmp_path / "parent", verbose=False, overrides=over, seeds=2,
                    variants={"slow": {"optim": {"lr": 1e-3}}, "fast": {"optim": {"lr": 3e-3}}})
    assert sorted(built) == [0, 1] and builder._SHARED is None  # 4 children, 2 builds, released
    # "fast" is the second child on seed 1's data: it gets the shared splits and its own spec
    for name, lr in (("slow", 1e-3), ("fast", 3e-3)):
        alone = gk.train("digits-mlp", out=tmp_path / f"alone-{name}", verbose=False,
                         overrides=[*over, f"optim.lr={lr}", "seed=1"])
        assert runs[name][1].metrics["test/accuracy"] == alone.metrics["test/accuracy"]
        assert runs[name][1].metrics["val/loss"] == pytest.approx(alone.metrics["val/loss"], rel=1e-6)
