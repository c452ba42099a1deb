"""Our metrics against scikit-learn on the same predictions (an oracle test)."""
import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from gradkit.metrics import classification_metrics, regression_metrics


def test_classification_matches_sklearn():
    rng = np.random.default_rng(0)
    target = rng.integers(0, 5, 500)
    preds = np.where(rng.random(500) < 0.6, target, rng.integers(0, 5, 500))
    scalars, details = classification_metrics(torch.tensor(preds), torch.tensor(target), 5)
    assert scalars["accuracy"] == pytest.approx(skm.accuracy_score(target, preds))
    assert scalars["precision_macro"] == pytest.approx(skm.precision_score(target, preds, average="macro"))
    assert scalars["recall_macro"] == pytest.approx(skm.recall_score(target, preds, average="macro"))
    assert scalars["f1_macro"] == pytest.approx(skm.f1_score(target, preds, average="macro"), rel=1e-5)
    assert details["confusion_matrix"] == skm.confusion_matrix(target, preds).tolist()
    np.testing.assert_allclose(details["per_class"]["f1"], skm.f1_score(target, preds, average=None), rtol=1e-5)
    assert details["per_class"]["support"] == np.bincount(target).tolist()


def test_regression_matches_sklearn():
    rng = np.random.default_rng(1)
    target = rng.normal(size=300).astype(np.float32)
    pred = (target + rng.normal(scale=0.5, size=300)).astype(np.float32)
    out = regression_metrics(torch.tensor(pred), torch.tensor(target))
    assert out["mse"] == pytest.approx(skm.mean_squared_error(target, pred), rel=1e-5)
    assert out["rmse"] == pytest.approx(skm.mean_squared_error(target, pred) ** 0.5, rel=1e-5)
    assert out["mae"] == pytest.approx(skm.mean_absolute_error(target, pred), rel=1e-5)
    assert out["r2"] == pytest.approx(skm.r2_score(target, pred), rel=1e-4)


def test_macro_averages_match_torchmetrics_when_a_class_is_absent():
    """torchmetrics' rule, which the reports quoted before the switch to scikit-learn: a class
    with no prediction and no target is left out of the macro average; a class that is a target
    but never predicted counts with precision 0."""
    from torchmetrics.functional import classification as TM

    rng = np.random.default_rng(2)
    target = rng.choice([0, 1, 2, 3, 5], 400)  # class 4 absent from both
    preds = np.where((rng.random(400) < 0.7) & (target != 3), target, rng.choice([0, 1, 2, 5], 400))  # 3 never predicted
    p, t = torch.tensor(preds), torch.tensor(target)
    scalars, details = classification_metrics(p, t, 6)
    for key, fn in (("precision_macro", TM.multiclass_precision), ("recall_macro", TM.multiclass_recall),
                    ("f1_macro", TM.multiclass_f1_score)):
        assert scalars[key] == pytest.approx(fn(p, t, num_classes=6, average="macro").item(), rel=1e-5), key
    assert scalars["accuracy"] == pytest.approx(
        TM.multiclass_accuracy(p, t, num_classes=6, average="micro").item())
    np.testing.assert_allclose(details["per_class"]["precision"],
                               TM.multiclass_precision(p, t, num_classes=6, average="none").numpy(), rtol=1e-5)
    assert details["per_class"]["precision"][3] == 0.0 and details["per_class"]["support"][4] == 0


def test_regression_over_several_outputs_matches_torchmetrics():
    from torchmetrics.functional import regression as TR

    rng = np.random.default_rng(3)
    target = torch.tensor(rng.normal(size=(200, 3)), dtype=torch.float32)
    pred = target + torch.tensor(rng.normal(scale=0.3, size=(200, 3)), dtype=torch.float32)
    out = regression_metrics(pred, target)
    assert out["mse"] == pytest.approx(TR.mean_squared_error(pred, target).item(), rel=1e-5)
    assert out["mae"] == pytest.approx(TR.mean_absolute_error(pred, target).item(), rel=1e-5)
    assert out["r2"] == pytest.approx(TR.r2_score(pred, target).item(), rel=1e-4)


def test_baselines_are_fitted_once_per_data_split_and_seed(monkeypatch, tmp_path):
    """The logistic-regression baseline is the same for every run on the same sample (variants,
    seeds' repeats, tuning trials, reruns): issue 24 computes it once and keeps it in this
    process and on disk; another seed's sample is fitted anew; a damaged cache file is refitted."""
    import sklearn.linear_model

    import gradkit.data as D
    from gradkit.config import DataConfig
    from gradkit.metrics import baselines as B

    monkeypatch.setenv("GRADKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(B, "_MEMO", {})
    fits = []
    real_fit = sklearn.linear_model.LogisticRegression.fit

    def counting_fit(self, *args, **kwargs):
        fits.append(1)
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(sklearn.linear_model.LogisticRegression, "fit", counting_fit)
    ds = D.build(DataConfig(name="digits"), "classes", 0)
    first = B.label_baselines(ds, 0)
    assert len(fits) == 1 and 0.9 < first["baseline/logreg/accuracy"] <= 1.0
    assert B.label_baselines(ds, 0) == first and len(fits) == 1  # this process
    monkeypatch.setattr(B, "_MEMO", {})
    again = B.label_baselines(D.build(DataConfig(name="digits"), "classes", 0), 0)
    assert again == first and len(fits) == 1  # another process: from the disk cache
    B.label_baselines(ds, 1)
    assert len(fits) == 2  # another seed samples other rows: fitted
    for path in (tmp_path / "cache" / "baselines").glob("*.json"):
        path.write_text("{not json")
    monkeypatch.setattr(B, "_MEMO", {})
    refit = B.label_baselines(ds, 0)  # damaged: refitted, the same figures (but its seconds)
    assert len(fits) == 3 and refit["baseline/logreg/accuracy"] == first["baseline/logreg/accuracy"]
