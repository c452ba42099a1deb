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
