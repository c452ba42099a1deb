"""Lessons (issue 18 part 2): per-layer gradient norms as an option, the generalisation gap,
and claims judged from the numbers."""
import json

import pytest
import torch
import yaml
from torch import nn

import gradkit as gk
from gradkit.report.lessons import judge
from gradkit.training.gradnorms import GradNorms

QUIET = {"verbose": False}


def test_grad_norms_are_each_layers_gradient_norm():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(8, 16), nn.Sigmoid(), nn.Linear(16, 16),
                          nn.Sigmoid(), nn.Linear(16, 3))
    norms = GradNorms({"model": model}, every=1)
    nn.functional.cross_entropy(model(torch.randn(32, 8)), torch.randint(0, 3, (32,))).backward()
    norms.record("model", 0, 1)
    expected = [torch.cat([m.weight.grad.flatten(), m.bias.grad.flatten()]).norm().item()
                for m in model if isinstance(m, nn.Linear)]
    assert norms.records[0]["norms"] == pytest.approx(expected, rel=1e-6)
    assert norms.summary()["layers"]["model"] == ["1 (Linear)", "3 (Linear)", "5 (Linear)"]


def test_grad_norms_option_records_every_n_steps_and_survives_a_resume(tmp_path, stop_after):
    args = dict(data={"limit": 400}, model={"hidden": [32, 32, 32], "activation": "sigmoid"},
                train={"epochs": 2, "batch_size": 50, "deterministic": True},
                output={"grad_norms": True, "grad_norms_every": 3}, **QUIET)
    full = gk.train("digits-mlp", out=tmp_path / "full", **args)
    data = json.loads((full.dir / "artifacts" / "grad_norms.json").read_text())
    steps = [r["step"] for r in data["records"]]
    batches = json.loads((full.dir / "run.json").read_text())["samples"]["train"] // 50 + 1
    assert steps == list(range(0, 2 * batches, 3)) and len(data["layers"]["model"]) == 4
    # sigmoid: the gradient shrinks towards the input at the first step
    first = data["records"][0]["norms"]
    assert first[0] < first[-1]
    assert 'id="gradients"' in (full.dir / "report.html").read_text()

    stop_after(1)
    with pytest.raises(KeyboardInterrupt):
        gk.train("digits-mlp", out=tmp_path / "cut", **args)
    stop_after(None)
    resumed = gk.resume(tmp_path / "cut", verbose=False)
    again = json.loads((resumed.dir / "artifacts" / "grad_norms.json").read_text())
    assert [r["step"] for r in again["records"]] == steps
    for a, b in zip(again["records"], data["records"]):
        assert a["norms"] == pytest.approx(b["norms"], rel=1e-5)


def test_train_metrics_give_the_generalisation_gap(tmp_path):
    run = gk.train("digits-mlp", data={"limit": 200}, train={"epochs": 30, "monitor": "epoch"},
                   model={"hidden": [256]}, output={"train_metrics": True, "report": False},
                   out=tmp_path / "r", **QUIET)
    m = run.metrics
    assert m["gap/accuracy"] == pytest.approx(m["trainset/accuracy"] - m["test/accuracy"])
    assert m["trainset/accuracy"] > 0.99 and m["gap/accuracy"] > 0.02  # 200 images: it overfits


def test_judge_turns_numbers_into_a_verdict():
    variants = {"a": {"m": {"values": [0.90, 0.91, 0.92], "n": 3, "mean": 0.91}},
                "b": {"m": {"values": [0.80, 0.81, 0.79], "n": 3, "mean": 0.80}},
                "c": {"m": {"values": [0.905, 0.915, 0.91], "n": 3, "mean": 0.91}}}
    lesson = {"claim": "a beats b", "checks": [{"variant": "a", "against": "b", "metric": "m"}]}
    assert judge(variants, lesson)["verdict"] == "supported"
    flipped = {**lesson, "checks": [{"variant": "b", "against": "a", "metric": "m"}]}
    assert judge(variants, flipped)["verdict"] == "contradicted"
    tie = {**lesson, "checks": [{"variant": "a", "against": "c", "metric": "m"}]}
    assert judge(variants, tie)["verdict"] == "not supported: no difference beyond seed noise at n=3"
    both = {**lesson, "checks": [{"variant": "a", "against": "b", "metric": "m"},
                                 {"variant": "a", "against": "c", "metric": "m"}]}
    assert judge(variants, both)["verdict"] == "partly supported"
    lower = {**lesson, "checks": [{"variant": "b", "against": "a", "metric": "m", "higher": False}]}
    assert judge(variants, lower)["verdict"] == "supported"


def test_a_lesson_recipe_ends_in_a_measured_verdict(tmp_path):
    recipe = {"base": "digits-mlp", "seeds": 2, "name": "lesson-test",
              "train": {"epochs": 3, "batch_size": 32},
              "model": {"hidden": [32, 32, 32, 32]}, "output": {"grad_norms": True},
              "variants": {"sigmoid": {"model": {"activation": "sigmoid"}, "optim": {"lr": 1e-6}},
                           "relu": {"model": {"activation": "relu"}}},
              "lesson": {"claim": "ReLU trains where sigmoid does not",
                         "checks": [{"variant": "relu", "against": "sigmoid", "metric": "test/accuracy"},
                                    {"variant": "relu", "against": "sigmoid", "metric": "val/accuracy@3"}],
                         "reach_metric": "val/accuracy", "reach_value": 0.5,
                         "caveats": "a tiny network on 8x8 digits"}}
    path = tmp_path / "lesson.yaml"
    path.write_text(yaml.safe_dump(recipe))
    gk.train(config_file=path, out=tmp_path / "p", **QUIET)
    summary = json.loads((tmp_path / "p" / "summary.json").read_text())
    assert summary["lesson"]["verdict"] == "supported"
    relu = summary["variants"]["relu"]
    assert relu["params"]["mean"] > 0 and relu["seconds/epoch"]["n"] == 2
    assert relu["reach/epochs"]["n"] == 2 and summary["variants"]["sigmoid"].get("reach/epochs") is None
    assert relu["grads/first_over_last"]["n"] == 2
    html = (tmp_path / "p" / "report.html").read_text()
    assert 'id="lesson"' in html and "Measured verdict" in html and "never (0 of 2 seeds)" in html


def test_lesson_checks_name_real_variants(tmp_path):
    from gradkit.errors import ConfigError

    with pytest.raises(ConfigError, match="'adam' is not a variant"):
        gk.train("digits-mlp", variants={"sgd": {}}, lesson={"claim": "x", "checks": [
            {"variant": "adam", "against": "sgd", "metric": "test/accuracy"}]}, **QUIET)
