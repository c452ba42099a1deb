"""Baselines every report compares against: the majority class (or the mean), and a linear
model on the flattened inputs when it takes seconds; for a forecast, persistence and
seasonal-naive on the model's own test windows.
"""
from __future__ import annotations

import time
import warnings
from collections.abc import Callable

import numpy as np
import torch

from gradkit.data import Dataset, normalize
from gradkit.data.resolve import computed_cache

MAX_ROWS = 3000  # a logistic regression on more rows than this stops taking "seconds"
MAX_TEST_ROWS = 10_000  # every bundled set's whole test split; bounds decoding a streamed one
MAX_FEATURES = 12_288  # 64x64 RGB: on larger raw images the linear model is skipped, not slow
BASELINE_VERSION = 1  # bump when a baseline's settings change: older cached figures stop matching
_MEMO: dict[str, dict[str, float]] = {}  # this process's baselines (`cached`)


def _features(ds: Dataset, split, idx: np.ndarray) -> np.ndarray:
    return normalize(split.take(idx).x, ds.spec).flatten(1).numpy()


def _tfidf_logreg(ds: Dataset, test_idx: np.ndarray, test_y: np.ndarray) -> dict[str, float]:
    """TF-IDF of word unigrams and bigrams + logistic regression, on every training text.

    The classic text baseline: sparse and linear, so it fits tens of thousands of texts in
    seconds. A model that cannot beat it has learnt nothing a bag of words does not know.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    t0 = time.perf_counter()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    x_train = vectorizer.fit_transform(ds.train.text)
    x_test = vectorizer.transform([ds.test.text[i] for i in test_idx])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at the iteration cap
        clf = LogisticRegression(C=10.0, solver="saga", max_iter=100).fit(x_train, ds.train.y.numpy())
    return {"baseline/tfidf-logreg/accuracy": float((clf.predict(x_test) == test_y).mean()),
            "baseline/tfidf-logreg/train_rows": float(len(ds.train.text)),
            "baseline/tfidf-logreg/seconds": time.perf_counter() - t0}


def naive_forecasts(x: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """Seasonal-naive forecasts (N, horizon) from raw input windows x (N, L): step h (0-based)
    repeats the value `season` * k steps before it, k = h // season + 1, the most recent one
    already observed (Hyndman & Athanasopoulos, "Forecasting", 3.1). season=1: persistence,
    the last observed value repeated."""
    h = np.arange(horizon)
    back = season * (h // season + 1) - h  # how far before the first target: 1..season
    return x[:, x.shape[1] - back]


def forecast_baselines(ds: Dataset) -> dict[str, float]:
    """Persistence and (when the data has a season) seasonal-naive on every test window."""
    from gradkit.metrics import forecast_metrics

    spec = ds.spec
    x = ds.test.x[..., 0].double().numpy()  # (N, L) raw inputs: exactly the model's test windows
    target = ds.test.y.double()  # (N, H)
    out: dict[str, float] = {}
    for name, season in (("persistence", 1), ("seasonal-naive", spec.season)):
        if name == "seasonal-naive" and season == 1:
            continue  # no season: seasonal-naive is persistence
        pred = torch.from_numpy(naive_forecasts(x, spec.horizon, season))
        scores = forecast_metrics(pred, target, spec.mase_scale)
        out.update({f"baseline/{name}/{k}": v for k, v in scores.items()})
    return out


def mean_image_baseline(ds: Dataset) -> dict[str, float]:
    """Reconstruct every test image as the mean training image: the per-pixel MSE (pixels in
    [0, 1]) an autoencoder must beat to have learnt anything about its input."""
    mean = normalize(ds.train.x, ds.spec).mean(0, keepdim=True)  # (1, C, H, W)
    test = normalize(ds.test.take(np.arange(min(len(ds.test), MAX_TEST_ROWS))).x, ds.spec)
    return {"baseline/mean/mse": float((test - mean).pow(2).mean())}


def label_baselines(ds: Dataset, seed: int = 0) -> dict[str, float]:
    """A classifier's baselines on the test split (a fixed sample of a huge one): the majority
    class, and a logistic regression on the inputs (TF-IDF features for texts)."""
    return _linear_baselines(ds, seed, classify=True)


def value_baselines(ds: Dataset, seed: int = 0) -> dict[str, float]:
    """A regressor's baselines on the test split: the training mean, and a linear regression."""
    return _linear_baselines(ds, seed, classify=False)


def _linear_baselines(ds: Dataset, seed: int, classify: bool) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    train_y = ds.train.y.numpy()
    idx = rng.permutation(len(train_y))[:MAX_ROWS]
    test_idx = np.sort(rng.permutation(len(ds.test))[:MAX_TEST_ROWS])
    test_y = ds.test.y.numpy()[test_idx]

    def scores(pred: np.ndarray) -> tuple[float, float]:
        mse = float(((pred - test_y) ** 2).mean())
        return mse, 1.0 - mse / float(((test_y - test_y.mean()) ** 2).mean())

    out: dict[str, float] = {}
    if classify:
        majority = np.bincount(train_y, minlength=ds.spec.num_classes).argmax()
        out["baseline/majority/accuracy"] = float((test_y == majority).mean())
    else:
        out["baseline/mean/mse"], out["baseline/mean/r2"] = scores(np.full_like(test_y, train_y.mean()))
    if ds.spec.kind == "text":
        out.update(_tfidf_logreg(ds, test_idx, test_y))
        return out
    if int(np.prod(ds.spec.input_shape)) > MAX_FEATURES:
        return out
    x_train, x_test = _features(ds, ds.train, idx), _features(ds, ds.test, test_idx)

    def fit() -> dict[str, float]:
        t0 = time.perf_counter()
        if classify:
            from sklearn.linear_model import LogisticRegression

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # ConvergenceWarning: capped iterations keep it fast
                clf = LogisticRegression(max_iter=200).fit(x_train, train_y[idx])
            return {"baseline/logreg/accuracy": float((clf.predict(x_test) == test_y).mean()),
                    "baseline/logreg/train_rows": float(len(idx)),
                    "baseline/logreg/seconds": time.perf_counter() - t0}
        from sklearn.linear_model import LinearRegression

        reg = LinearRegression().fit(x_train, train_y[idx])
        mse, r2 = scores(reg.predict(x_test))
        return {"baseline/linear/mse": mse, "baseline/linear/r2": r2,
                "baseline/linear/seconds": time.perf_counter() - t0}

    out.update(cached(("logreg" if classify else "linear", x_train, train_y[idx], x_test, test_y), fit))
    return out


def cached(key: tuple, compute: Callable[[], dict[str, float]]) -> dict[str, float]:
    """`compute()`, or what it gave before on the very same arrays: the baselines of a data set,
    split and seed are the same for every run on them (variants, seeds, tuning trials, reruns).

    The key is a digest of the arrays' bytes, shapes and dtypes with scikit-learn's version, so a
    different sample, split or normalisation never hits; kept in this process and in
    `$GRADKIT_CACHE/baselines` (else ~/.cache/gradkit/baselines). A cache that cannot be read
    or written is ignored: the baseline is computed."""
    import hashlib
    import json
    from importlib.metadata import version

    digest = hashlib.sha1(f"{BASELINE_VERSION}|{version('scikit-learn')}".encode())
    for part in key:
        if isinstance(part, np.ndarray):
            part = np.ascontiguousarray(part)
            digest.update(f"{part.shape}{part.dtype}".encode())
            digest.update(part.tobytes())
        else:
            digest.update(str(part).encode())
    name = digest.hexdigest()
    if name in _MEMO:
        return dict(_MEMO[name])
    path = computed_cache() / "baselines" / f"{name}.json"
    try:
        found = json.loads(path.read_text())
        if isinstance(found, dict) and all(isinstance(v, (int, float)) for v in found.values()):
            _MEMO[name] = found
            return dict(found)
    except (OSError, ValueError):
        pass
    result = compute()
    _MEMO[name] = result
    try:
        from gradkit.rundir import atomic_write

        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps(result))
    except Exception:  # noqa: BLE001 (a read-only or full cache costs the next run a refit only)
        pass
    return dict(result)

