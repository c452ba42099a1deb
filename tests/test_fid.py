"""FID in a gradkit classifier's features: torchmetrics against the textbook formula (an oracle
test), the 0 / large sanity checks, the class histogram, the cached reference classifier."""
import numpy as np
import pytest
import scipy.linalg
import torch

import gradkit as gk
from gradkit.errors import ConfigError, DataError
from gradkit.engine import reference as R
from gradkit.metrics import fid as F

from conftest import needs_fashion

QUIET = {"verbose": False, "output": {"report": False}}


def features_of(run_dir):
    return F.ClassifierFeatures(gk.load(run_dir))


@pytest.fixture(scope="module")
def digits_runs(tmp_path_factory):
    """A digits CNN (0.95+ test accuracy in seconds) and a digits MLP, trained once for the module."""
    root = tmp_path_factory.mktemp("classifiers")
    cnn = gk.train("digits-cnn", out=root / "cnn", train={"epochs": 10}, **QUIET)
    mlp = gk.train("digits-mlp", out=root / "mlp", train={"epochs": 3}, **QUIET)
    return {"cnn": cnn.dir, "mlp": mlp.dir}


@pytest.fixture(scope="module")
def digits():
    data = gk.data.load("digits")
    return data, F.as_unit_images(data.test.x, 16), F.as_unit_images(data.train.x, 16)


@pytest.fixture(scope="module")
def features(digits_runs):
    return features_of(digits_runs["cnn"])


def frechet_oracle(a: np.ndarray, b: np.ndarray) -> float:
    """‖μa − μb‖² + Tr(Σa + Σb − 2(Σa Σb)^½), straight from Heusel et al. (2017), in float64."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(cov_a @ cov_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


@pytest.mark.parametrize("kind", ["cnn", "mlp"])
def test_features_are_the_input_of_the_last_linear_layer(digits_runs, digits, kind):
    feats = features_of(digits_runs[kind])
    _, test01, _ = digits
    f, logits = feats.features_and_logits(test01[:50])
    assert f.shape == (50, feats.num_features) and logits.shape == (50, 10)
    head = [m for m in feats.model.modules() if isinstance(m, torch.nn.Linear)][-1]
    torch.testing.assert_close(head(f), logits)  # the features are exactly what the head sees
    # [0, 1] images normalised as in training: the same probabilities as the run's own predict
    run = gk.load(digits_runs[kind])
    expected = run.predict((test01[:50] * 16).round().to(torch.uint8))
    np.testing.assert_allclose(feats.probs(test01[:50]).numpy(), expected, atol=1e-5)
    feats.train()
    assert not feats.model.training  # torchmetrics may call train(); dropout must stay off


# dead ReLU units make both covariances singular; sqrtm still returns the right root
@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")
def test_fid_matches_the_scipy_formula(features, digits):
    _, test01, train01 = digits
    real, fake = test01, train01[:500]
    with torch.no_grad():
        oracle = frechet_oracle(features(real).double().numpy(), features(fake).double().numpy())
    assert F.fid(real, fake, features, batch_size=128) == pytest.approx(oracle, rel=1e-3)


def test_fid_is_zero_against_itself_and_large_against_noise(features, digits):
    _, test01, train01 = digits
    floor = F.fid(test01, train01[:len(test01)], features)
    assert abs(F.fid(test01, test01, features)) < 1e-3 * floor
    noise = F.fid(test01, torch.rand_like(test01), features)
    assert noise > 20 * floor > 0


def test_class_histogram_follows_the_labels_and_shows_collapse(features, digits):
    data, test01, _ = digits
    hist = F.class_histogram(test01, features)
    share = np.array(hist["counts"]) / len(test01)
    labels = np.bincount(data.test.y.numpy(), minlength=10) / len(test01)
    np.testing.assert_allclose(share, labels, atol=0.03)  # a 0.97+ accurate classifier
    assert hist["classes_covered"] == 10 and sum(hist["counts"]) == len(test01)
    assert hist["entropy_bits"] == pytest.approx(np.log2(10), abs=0.05)
    # a "generator" that only draws threes: one class covered, entropy near 0
    threes = test01[data.test.y == 3]
    collapsed = F.class_histogram(threes, features)
    assert collapsed["classes_covered"] == 1 and collapsed["entropy_bits"] < 0.3
    assert collapsed["counts"][3] >= 0.9 * len(threes)


def test_reference_classifier_is_trained_once_then_reused(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GRADKIT_CACHE", str(tmp_path / "gkcache"))
    over = ["train.epochs=3", "output.report=false"]
    first = R.reference_classifier("digits", overrides=over)
    assert first.trained_now and "training the reference classifier" in capsys.readouterr().out
    assert first.dir.parent == tmp_path / "gkcache" / "classifiers" / "digits"
    assert first.test_accuracy > 0.8 and first.recipe == "digits-cnn"
    stamp = (first.dir / "checkpoints" / "best.pt").stat().st_mtime_ns

    def no_training(*args, **kwargs):
        raise AssertionError("the cached classifier was trained again")

    import gradkit.engine.supervised

    monkeypatch.setattr(gradkit.engine.supervised, "run_supervised", no_training)
    again = R.reference_classifier("digits", overrides=over)
    assert not again.trained_now and again.dir == first.dir
    assert again.test_accuracy == first.test_accuracy
    assert (first.dir / "checkpoints" / "best.pt").stat().st_mtime_ns == stamp
    assert capsys.readouterr().out == ""


def test_an_interrupted_cached_run_is_trained_again(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADKIT_CACHE", str(tmp_path))
    over = ["train.epochs=1", "output.report=false"]
    first = R.reference_classifier("digits", overrides=over, verbose=False)
    (first.dir / "metrics.json").unlink()  # as if killed before the test pass
    assert R.reference_classifier("digits", overrides=over, verbose=False).trained_now


def test_clear_errors(digits_runs, features, tmp_path):
    with pytest.raises(ConfigError, match="did you mean 'fashion-mnist'"):
        R.reference_classifier("fashion-mnst")
    iris = gk.train("iris-mlp", out=tmp_path / "iris", train={"epochs": 2}, **QUIET)
    with pytest.raises(ConfigError, match="classifier of images"):
        features_of(iris.dir)
    with pytest.raises(ConfigError, match="classifier of images"):
        R.reference_classifier("iris", iris.dir)
    with pytest.raises(ConfigError, match="classifies 'digits', not 'fashion-mnist'"):
        R.reference_classifier("fashion-mnist", digits_runs["cnn"])
    with pytest.raises(DataError, match=r"takes \(N, 1, 8, 8\)"):
        features(torch.rand(4, 1, 28, 28))
    with pytest.raises(DataError, match=r"in \[0, 1\]"):
        F.quality_report(torch.rand(10, 1, 8, 8) * 2 - 1, gk.data.load("digits"),
                         R.reference_classifier("digits", digits_runs["cnn"]), features)


def test_quality_report_on_digits(digits_runs, digits):
    data, test01, _ = digits
    ref = R.reference_classifier("digits", digits_runs["cnn"])
    assert ref.recipe is None and ref.test_accuracy > 0.95
    noise = F.quality_report(torch.rand(300, 1, 8, 8), data, ref, features_of(ref.dir))
    assert noise["n"] == 300 and noise["classifier_run"] == str(digits_runs["cnn"])
    assert noise["classifier_accuracy"] == ref.test_accuracy and noise["feature_dim"] == 128
    assert noise["fid"] > 20 * noise["fid_floor"] > 0
    # the floor is real_floor's, on the same n and seed
    assert noise["fid_floor"] == pytest.approx(F.real_floor(data, features_of(ref.dir), 300),
                                               rel=1e-5)
    assert noise["real_class_histogram"]["classes_covered"] == 10
    # real train images as "samples": a perfect generator scores near the floor
    perfect = F.quality_report(F.as_unit_images(data.train.x[-300:], 16), data, ref,
                               features_of(ref.dir))
    assert perfect["fid"] < 2 * perfect["fid_floor"]


@pytest.mark.slow
@needs_fashion
def test_quality_report_on_fashion_with_a_small_classifier(tmp_path, monkeypatch):
    """The 28x28 path end to end: a classifier on a 1,500-image slice, n=1,000 per side.

    ~30 s, most of it gk.train's logistic-regression baseline on 784 raw pixels."""
    monkeypatch.setenv("GRADKIT_CACHE", str(tmp_path))
    ref = R.reference_classifier("fashion-mnist", verbose=False, overrides=[
        "data.limit=1500", "train.epochs=3", "output.report=false", "model.channels=[8,16]"])
    assert ref.test_accuracy > 0.7
    q = F.quality_report(torch.rand(1000, 1, 28, 28), gk.data.load("fashion-mnist"), ref,
                         features_of(ref.dir))
    assert q["n"] == 1000 and q["class_histogram"]["class_names"][0] == "t-shirt/top"
    assert q["fid"] > 10 * q["fid_floor"] > 0
