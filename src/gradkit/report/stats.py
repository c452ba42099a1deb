"""Seed statistics: what several runs of one configuration say, and whether two configurations
differ by more than seed noise. numpy and scipy only (the report imports no torch).

    summarize([0.91, 0.92, 0.90])   # mean, sample sd (ddof=1), 95% CI (Student t), min, max
    compare(sgd, adam, higher=True) # difference of means with its 95% CI (Welch) and a verdict

A verdict says "better" or "worse" only when the difference's 95% interval excludes zero;
otherwise "no difference distinguishable from seed noise at n=...". With one seed there is no
spread to measure: the CI is unknown and the verdict says so.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

CONFIDENCE = 0.95
# metric names where lower is better (the training loop's rule, for files only; plus the
# measurements a seeds summary derives: seconds, epochs to reach a value, FID)
LOWER = ("loss", "mse", "mae", "rmse", "mase", "perplexity", "bits_per_char", "nelbo", "fid",
         "seconds", "steps_to_solve", "rec", "kl", "epochs", "seconds/epoch")


def higher_is_better(metric: str) -> bool:
    """test/accuracy: yes; test/loss, reach/seconds, seconds/epoch, eval/steps_to_solve: no."""
    name = metric.split("@")[0]
    return not (name.split("/")[-1].endswith(LOWER) or name.endswith(LOWER))


def _t(df: float) -> float:
    from scipy import stats

    return float(stats.t.ppf(0.5 + CONFIDENCE / 2, df))


def summarize(values: Sequence[float]) -> dict[str, Any]:
    """n, mean, sample sd, the mean's 95% CI (Student t, n - 1 degrees of freedom), min, max."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    n = len(x)
    if n == 0:
        return {"n": 0, "mean": None, "sd": None, "ci95": None, "min": None, "max": None, "values": []}
    mean = float(x.mean())
    sd = float(x.std(ddof=1)) if n > 1 else None
    half = _t(n - 1) * sd / math.sqrt(n) if sd is not None else None
    return {"n": n, "mean": mean, "sd": sd,
            "ci95": None if half is None else [mean - half, mean + half],
            "min": float(x.min()), "max": float(x.max()), "values": x.tolist()}


def welch(a: Sequence[float], b: Sequence[float]) -> dict[str, Any]:
    """mean(b) - mean(a) with its 95% CI by Welch's t (unequal variances, Welch-Satterthwaite
    degrees of freedom); None where either side has fewer than two values."""
    x, y = (np.asarray(v, dtype=np.float64) for v in (a, b))
    diff = float(y.mean() - x.mean()) if len(x) and len(y) else None
    if len(x) < 2 or len(y) < 2:
        return {"diff": diff, "ci95": None, "df": None}
    va, vb = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    se = math.sqrt(va + vb)
    if se == 0:  # identical runs on both sides: the difference is exact
        return {"diff": diff, "ci95": [diff, diff], "df": math.inf}
    df = (va + vb) ** 2 / (va ** 2 / (len(x) - 1) + vb ** 2 / (len(y) - 1))
    half = _t(df) * se
    return {"diff": diff, "ci95": [diff - half, diff + half], "df": float(df)}


def verdict(result: dict[str, Any], higher_is_better: bool, n: int) -> str:
    """'better', 'worse' (than the reference) or 'no difference distinguishable from seed noise'."""
    ci = result.get("ci95")
    if ci is None:
        return f"not measurable at n={n}: a confidence interval needs two or more seeds a side"
    if ci[0] <= 0 <= ci[1]:
        return f"no difference distinguishable from seed noise at n={n}"
    up = ci[0] > 0
    return "better" if up == higher_is_better else "worse"
