"""Explanations (Captum): sanity checks on real digits, oracles for each data kind, the files,
the report section, the CLI and the error messages.

The sanity checks follow Adebayo et al. 2018 ("Sanity Checks for Saliency Maps"): attributions
must depend on what the model learnt (a re-initialised model gives different ones), and they
must point at what the model uses (deleting the most-attributed pixels hurts the prediction
far more than deleting as many random ones). The oracles recompute what an attribution claims
with plain forward passes: integrated gradients' completeness, occlusion's logit drop.
"""
import copy
import csv
import json
import random
import re
import sys

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from typer.testing import CliRunner

import gradkit as gk
from gradkit import config as C
from gradkit import engine
from gradkit.cli import app
from gradkit.data import normalize
from gradkit.errors import ConfigError, GradkitError
from gradkit.explain import explain
from gradkit.artifacts.explanations import choose, compute
from gradkit.artifacts.attribution import attribute, baseline_for
from gradkit.report.attributions import highlight_html
from gradkit.report import build_report
from gradkit.training import predict_split

FAST = ["train.threads=1"]


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """(run, data, predicted test classes) of digits-cnn after 3 epochs (test accuracy ~0.98)."""
    root = tmp_path_factory.mktemp("explain-digits")
    run = gk.train("digits-cnn", out=root / "run", verbose=False, overrides=["train.epochs=3", *FAST])
    data = run.data()
    pred = predict_split(run.task, data.test, data.spec, 1024, run.device).argmax(1)
    return run, data, pred


def _logit(model, x, target):
    with torch.no_grad():
        return model(x).gather(1, target[:, None])[:, 0]


def test_a_finished_run_explains_right_and_wrong_examples_in_its_report(digits):
    run, data, pred = digits
    folder = run.dir / "artifacts" / "explanations"
    s = json.loads((folder / "integrated-gradients.json").read_text())
    arrays = np.load(folder / "integrated-gradients.npz")
    wrong = int((pred != data.test.y).sum())
    assert wrong > 0 and len(s["examples"]) == 8
    assert sum(not e["correct"] for e in s["examples"]) == min(wrong, 4)
    idx = arrays["index"]
    assert [e["index"] for e in s["examples"]] == idx.tolist()
    # read back: the saved inputs, labels and predictions are those test examples' own
    assert np.array_equal(arrays["x"], data.test.x[idx].numpy())
    assert np.array_equal(arrays["y"], data.test.y[idx].numpy())
    assert np.array_equal(run.predict(arrays["x"]).argmax(1), arrays["pred"])
    assert arrays["attributions"].shape == (8, 1, 8, 8)
    assert all(e["completeness_gap"] <= 0.05 + 0.02 * abs(e["logit_change"]) for e in s["examples"])
    html = (run.dir / "report.html").read_text()
    assert '<section id="explanations">' in html and 'href="#explanations"' in html
    assert html.count("<figcaption>misclassified test examples (top)") == 1
    assert html.count("<figcaption>correctly classified test examples (top)") == 1


def test_integrated_gradients_add_up_to_the_change_from_a_black_image(digits):
    """Completeness (Sundararajan et al. 2017), against plain forward passes: a wrong
    baseline, a wrong target class or dropout left on would each break it."""
    run, data, pred = digits
    x = normalize(data.test.x[:16], run.spec)
    target = pred[:16]
    a = attribute(run.model, x, target, "integrated-gradients", run.spec, steps=64)
    black = normalize(torch.zeros_like(data.test.x[:16]), run.spec)
    change = _logit(run.model, x, target) - _logit(run.model, black, target)
    assert change.abs().mean() > 3.0  # a real change to account for
    assert torch.allclose(a.values.flatten(1).sum(1), change, rtol=0.03, atol=0.05)
    assert torch.allclose(a.delta.abs(), (a.values.flatten(1).sum(1) - change).abs(), atol=1e-3)


@pytest.mark.parametrize("method", ["integrated-gradients", "saliency", "gradcam"])
def test_attributions_depend_on_the_trained_weights(digits, method):
    """Adebayo et al.'s model randomisation: the same 32 test digits explained by the trained
    model and by a re-initialised copy give unrelated (signed) maps. Measured: mean Spearman
    0.13 (integrated gradients), 0.13 (saliency), 0.25 (gradcam). Of |integrated gradients|
    it is 0.92 (the input's shape dominates |x - baseline| * gradient, as the paper found),
    which is why the signed maps are compared."""
    run, data, pred = digits
    x = normalize(data.test.x[:32], run.spec)
    random_model = copy.deepcopy(run.model)
    torch.manual_seed(0)
    for module in random_model.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            module.reset_parameters()
    trained = attribute(run.model, x, pred[:32], method, run.spec).values.flatten(1).numpy()
    again = attribute(run.model, x, pred[:32], method, run.spec).values.flatten(1).numpy()
    shuffled = attribute(random_model, x, pred[:32], method, run.spec).values.flatten(1).numpy()
    same = np.mean([spearmanr(a, b)[0] for a, b in zip(trained, again)])
    rho = np.nanmean([spearmanr(a, b)[0] for a, b in zip(trained, shuffled)])
    assert same > 0.99 and rho < 0.5, (same, rho)


def test_deleting_the_most_attributed_pixels_hurts_more_than_deleting_random_ones(digits):
    """The pipeline's own attributions (example choice, normalisation, batching) of 16 test
    digits: blacking out each one's 8 most positive pixels (of 64) lowers the predicted logit
    far more than blacking out 8 random pixels. Measured: 7.3 against 1.8, on every digit."""
    run, data, pred = digits
    s, arrays = compute(run.model, data, pred, "integrated-gradients", 16, 32, run.device)
    x = normalize(torch.from_numpy(arrays["x"]), run.spec).flatten(1)
    target = torch.from_numpy(arrays["pred"])
    black = baseline_for(x, run.spec)
    before = _logit(run.model, x.view(-1, 1, 8, 8), target)

    def drop(cols):
        occluded = x.clone().scatter_(1, cols, black.gather(1, cols))
        return before - _logit(run.model, occluded.view(-1, 1, 8, 8), target)

    top = torch.from_numpy(arrays["attributions"]).flatten(1).argsort(1, descending=True)[:, :8]
    g = torch.Generator().manual_seed(0)
    rand = torch.stack([drop(torch.stack([torch.randperm(64, generator=g)[:8] for _ in x]))
                        for _ in range(10)]).mean(0)
    assert drop(top).mean() > 2 * rand.mean() and (drop(top) > rand).float().mean() >= 0.8


def test_shap_is_reproducible_and_leaves_the_global_random_streams_alone(digits):
    run, data, pred = digits
    np_before, torch_before = np.random.get_state()[1].copy(), torch.get_rng_state()
    first = compute(run.model, data, pred, "shap", 4, 8, run.device)[1]["attributions"]
    second = compute(run.model, data, pred, "shap", 4, 8, run.device)[1]["attributions"]
    other = compute(run.model, data, pred, "shap", 4, 8, run.device, seed=1)[1]["attributions"]
    assert np.array_equal(first, second) and not np.allclose(first, other)
    assert np.array_equal(np.random.get_state()[1], np_before)
    assert torch.equal(torch.get_rng_state(), torch_before)


def test_cli_explain_writes_the_files_and_adds_them_to_the_report(digits):
    run, data, pred = digits
    result = CliRunner().invoke(app, ["explain", str(run.dir), "--method", "gradcam", "-n", "6"])
    out = " ".join(result.output.split())
    assert result.exit_code == 0, out
    assert "gradcam (captum.attr.LayerGradCam) on 6 test examples" in out
    folder = run.dir / "artifacts" / "explanations"
    for name in ("gradcam.json", "gradcam.npz", "gradcam-right.png", "gradcam-wrong.png"):
        assert (folder / name).is_file(), name
    attributions = np.load(folder / "gradcam.npz")["attributions"]
    assert attributions.shape == (6, 1, 8, 8) and (attributions >= 0).all()  # ReLU'd heat maps
    html = (run.dir / "report.html").read_text()
    assert 'id="explain-gradcam"' in html and 'id="explain-integrated-gradients"' in html
    assert html.index('id="explain-integrated-gradients"') < html.index('id="explain-gradcam"')


def test_choose_takes_at_most_half_misclassified():
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    pred = torch.tensor([1, 1, 0, 0, 1, 2, 2, 1])  # wrong at 0, 2, 6
    assert choose(y, pred, 4).tolist() == [0, 1, 2, 3]  # 2 wrong, then the first right ones
    assert choose(y, pred, 8).tolist() == list(range(8))  # too few right: the rest wrong ones
    assert choose(y, y, 3).tolist() == [0, 1, 2]


@pytest.fixture(scope="module")
def iris(tmp_path_factory):
    root = tmp_path_factory.mktemp("explain-iris")
    return gk.train("iris-mlp", out=root / "run", verbose=False, overrides=FAST)


def test_tabular_importance_finds_the_petals_and_occlusion_is_a_feature_ablation(iris):
    """Iris is told apart by its petals (Fisher 1936; any tree's first split): the mean
    |attribution| ranks petal length and width first. Occlusion of one standardised feature
    at a time must equal the logit drop when that feature is set to the training mean (0)."""
    s = json.loads((iris.dir / "artifacts/explanations/integrated-gradients.json").read_text())
    ranked = [name for _, name in sorted(zip(s["importance"], s["features"]), reverse=True)]
    assert set(ranked[:2]) == {"petal length (cm)", "petal width (cm)"}, ranked
    assert s["importance_rows"] == 30 and len(s["figures"]) == 3  # importance + 2 rows
    occ = explain(iris.dir, "occlusion", n=8, report=False)
    arrays = np.load(iris.dir / "artifacts/explanations/occlusion.npz")
    x = normalize(torch.from_numpy(arrays["x"]), iris.spec)
    target = torch.from_numpy(arrays["pred"])
    for j in range(4):
        ablated = x.clone()
        ablated[:, j] = 0.0
        expected = _logit(iris.model, x, target) - _logit(iris.model, ablated, target)
        assert np.allclose(arrays["attributions"][:, j], expected.numpy(), atol=1e-5)
    assert occ["signed"] and {f["file"] for f in occ["figures"]} >= {"occlusion-importance.png"}


WORDS = {"animal": "dog cat horse cow sheep goat",
         "plant": "tree grass rose fern moss oak",
         "tool": "hammer saw drill wrench chisel axe"}
FILLER = "the a of some with and very".split()


def _text_rows(seed: int = 0) -> list[tuple[str, str, str]]:
    """Each text: 2 words of its class among 3 to 5 filler words, in random order."""
    rng = random.Random(seed)
    rows = []
    for split, count in (("train", 60), ("test", 15)):
        for _ in range(count):
            for label, words in WORDS.items():
                tokens = rng.sample(words.split(), 2) + rng.sample(FILLER, rng.randint(3, 5))
                rng.shuffle(tokens)
                rows.append((" ".join(tokens), label, split))
    return rows


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("explain-text")
    with open(root / "t.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([("text", "label", "split"), *_text_rows()])
    return gk.train("wordnet-lstm", out=root / "run", verbose=False, overrides=[
        "data.name=text-csv", f"data.path={root / 't.csv'}", "data.tokenizer=word",
        "data.vocab_size=100", "data.max_length=12", "train.epochs=4", "train.batch_size=16",
        "model.embed_dim=16", "model.hidden=16", "optim.lr=0.02", *FAST])


def test_text_tokens_of_the_class_get_the_credit(text_run):
    """LayerIntegratedGradients on the embedding: in most correctly classified test texts a
    word of the class scores highest (measured: 41 of 45; chance about 1 in 3, 2 class words
    among 5 to 7 tokens), and class words score above fillers on average. The scores add up
    to the logit's change from all-[PAD] embeddings, recomputed by zeroing the embeddings."""
    assert text_run.metrics["test/accuracy"] > 0.9
    s = explain(text_run.dir, n=12, report=False)
    names = sorted(WORDS)
    top_is_ours, ours, filler = [], [], []
    for e in s["examples"]:
        words = WORDS[names[e["pred"]]].split()
        assert all(t in words or t in FILLER for t in e["tokens"]), e["tokens"]  # real tokens only
        if e["correct"]:
            top_is_ours.append(e["tokens"][int(np.argmax(e["scores"]))] in words)
            ours += [v for t, v in zip(e["tokens"], e["scores"]) if t in words]
            filler += [v for t, v in zip(e["tokens"], e["scores"]) if t in FILLER]
    assert len(top_is_ours) >= 10 and np.mean(top_is_ours) >= 0.75, top_is_ours
    assert np.mean(ours) > 3 * max(np.mean(filler), 0.0), (np.mean(ours), np.mean(filler))
    arrays = np.load(text_run.dir / "artifacts/explanations/integrated-gradients.npz")
    ids, target = torch.from_numpy(arrays["x"]), torch.from_numpy(arrays["pred"])
    no_words = copy.deepcopy(text_run.model)
    with torch.no_grad():
        no_words.inputs.layer.weight.zero_()  # every token embedded as [PAD], mask unchanged
    change = _logit(text_run.model, ids, target) - _logit(no_words, ids, target)
    assert np.allclose(arrays["attributions"].sum(1), change.numpy(), rtol=0.05, atol=0.02)


def test_text_explanations_render_as_highlighted_html(text_run):
    page = (text_run.dir / "artifacts/explanations/integrated-gradients.html").read_text()
    report = (text_run.dir / "report.html").read_text()
    s = json.loads((text_run.dir / "artifacts/explanations/integrated-gradients.json").read_text())
    first = s["examples"][0]
    for html in (page, report):
        assert highlight_html(first["tokens"], first["scores"], True) in html
    assert '<section id="explanations">' in report and "text, shaded by attribution" in report
    shown = highlight_html(["<b>", "saw", "##s"], [1.0, -0.5, 0.0], True)
    assert re.sub("<[^>]+>", "", shown) == "&lt;b&gt; saws"  # escaped; ##s joins its word
    assert "rgba(208, 28, 139, 0.42)" in shown  # against: pink, half as strong


def test_no_explain_skips_the_explanations_and_the_section(tmp_path):
    # `gradkit train --no-explain` is output.explain=false
    result = CliRunner().invoke(app, ["train", "digits-mlp", "train.epochs=1", *FAST, "--quiet",
                                      "--no-explain", "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    run = gk.load(tmp_path / "run")
    assert run.config.output.explain is False
    assert not (run.dir / "artifacts" / "explanations").exists()
    assert 'id="explanations"' not in (run.dir / "report.html").read_text()
    (run.dir / "artifacts" / "explanations").mkdir()
    (run.dir / "artifacts" / "explanations" / "saliency.json").write_text('{"examples": 3')
    html = build_report(run.dir).read_text()  # a broken file shrinks to a note
    assert "artifacts/explanations/saliency.json could not be read (JSONDecodeError" in html
    with pytest.raises(ConfigError, match="did you mean 'output.explain'"):
        engine.resolve("digits-mlp", overrides=["output.explian=false"])
    with pytest.raises(GradkitError, match=r"gradcam does not fit.*nn\.Conv2d.*use one of: "
                       "integrated-gradients, saliency, occlusion, shap"):
        explain(run.dir, "gradcam")
    with pytest.raises(ConfigError, match="did you mean 'integrated-gradients'"):
        explain(run.dir, "integrated_gradients")


def test_runs_that_are_not_classifiers_are_refused_by_name(tmp_path):
    for recipe, what in (("diabetes-linear", "task is regression"),
                         ("cartpole-ppo", "reinforcement-learning run")):
        folder = tmp_path / recipe
        folder.mkdir()
        (folder / "config.yaml").write_text(C.dump(engine.resolve(recipe)))
        with pytest.raises(GradkitError, match=f"supports classification runs.*{what}"):
            explain(folder)
    code = CliRunner().invoke(app, ["explain", str(tmp_path / "diabetes-linear")])
    assert code.exit_code == 2 and "supports classification runs" in code.output


def test_without_captum_runs_finish_and_say_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "captum", None)  # `import captum` raises ImportError
    monkeypatch.setitem(sys.modules, "captum.attr", None)
    run = gk.train("digits-mlp", out=tmp_path / "run", verbose=False,
                   overrides=["train.epochs=1", *FAST])
    assert "pip install 'gradkit[explain]'" in capsys.readouterr().out
    assert "Captum missing: pip install" in (run.dir / "report.html").read_text()
    with pytest.raises(GradkitError, match=r"need Captum.*pip install 'gradkit\[explain\]'"):
        explain(run.dir)
