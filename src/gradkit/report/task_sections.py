"""HTML for the task-specific sections: classification, regression and forecast results."""
from __future__ import annotations

import numpy as np

from gradkit.report import plots, text_sections
from gradkit.report.explanations import explanations
from gradkit.report.rundir import RunData, fmt_num
from gradkit.report.sections import esc, figure, note, results, section, table

MAX_SAMPLES = 48
MAX_FEATURES = 8  # tabular samples: wider rows stop being readable


@results("classification")
def classification_results(run: RunData) -> str:
    """A classifier's results, then its explained test examples."""
    return classification(run) + "\n" + explanations(run)


def classification(run: RunData) -> str:
    """Confusion matrix, per-class table and a grid of sample predictions; a text run adds its
    top confusions with example texts and, for a Transformer, attention heat maps."""
    parts = [_confusion(run), text_sections.top_confusions(run), _per_class(run),
             "<h3>Sample test predictions</h3>", _samples(run), text_sections.attention_maps(run)]
    return section("classification", "Classification results", "\n".join(parts))


def _num_classes(run: RunData) -> int:
    """K from whichever record states it; the largest wins so no label falls off the end."""
    candidates = [run.spec.get("num_classes") or 0]
    cm = run.confusion_matrix()
    candidates.append(0 if cm is None else len(cm))
    samples = run.samples or {}
    if samples.get("prob") is not None and samples["prob"].ndim == 2:
        candidates.append(samples["prob"].shape[1])
    for key in ("y", "pred"):
        if samples.get(key) is not None and samples[key].size:
            candidates.append(int(np.max(samples[key])) + 1)
    return max(int(c) for c in candidates)


def _confusion(run: RunData) -> str:
    cm = run.confusion_matrix()
    if cm is None:
        return note("No confusion matrix: artifacts/test_details.json is missing or empty.")
    names = run.class_names(len(cm))
    heat_map = figure(plots.confusion_matrix(cm, names), "confusion matrix")
    body = f'<div id="confusion-matrix">{heat_map}'
    body += '<p class="classes">Classes: ' + ", ".join(esc(n) for n in names) + "</p></div>"
    return "<h3>Confusion matrix</h3>\n" + body


def _per_class(run: RunData) -> str:
    per = run.per_class()
    if per is None:
        return note("No per-class figures were recorded.")
    k, scores = len(per["f1"]), ("precision", "recall", "f1")
    names = run.class_names(k)
    support = np.nan_to_num(per["support"]).astype(int)
    rows = [[names[i], *(float(per[s][i]) for s in scores), int(support[i])] for i in range(k)]
    worst = int(np.nanargmin(per["f1"])) if np.isfinite(per["f1"]).any() else -1
    classes = ["low" if i == worst else "" for i in range(k)]  # the class to look at first
    macro = [float(np.nanmean(per[s])) if np.isfinite(per[s]).any() else None for s in scores]
    rows.append(["macro average", *macro, int(support.sum())])
    classes.append("total")
    return ("<h3>Per-class results (test)</h3>\n"
            + table(rows, ["class", "precision", "recall", "F1", "support"], classes))


def _samples(run: RunData) -> str:
    s = run.samples or {}
    y, pred = s.get("y"), s.get("pred")
    if y is None or pred is None or len(y) != len(pred) or not len(y):
        return note("No sample predictions: artifacts/samples.npz is missing or incomplete.")
    n = min(len(y), MAX_SAMPLES)
    y, pred = np.asarray(y[:n]).astype(int), np.asarray(pred[:n]).astype(int)
    prob = s.get("prob")
    prob = prob[:n] if prob is not None and prob.ndim == 2 and len(prob) >= n else None
    names = run.class_names(_num_classes(run))
    captions = [_caption(names, y[i], pred[i], None if prob is None else prob[i]) for i in range(n)]
    wrong = int((y != pred).sum())
    intro = note(f"{wrong} of {n} samples shown are misclassified (red). The samples are chosen "
                 "to show mistakes; the test accuracy above is the true rate.")
    text = s.get("text")
    if text is not None and len(text) >= n:
        return intro + _text_table(text[:n], captions, y != pred)
    x = s.get("x")
    x = x[:n] if x is not None and len(x) >= n else None
    images = _as_images(x)
    if images is not None:
        return intro + _image_grid(images, captions, y != pred)
    return intro + _sample_table(run, x, captions, y != pred)


def _as_images(x: np.ndarray | None) -> np.ndarray | None:
    """x as (N, C, H, W) with C = 1 or 3, or None when x is not a batch of images."""
    if x is None:
        return None
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4 and x.shape[1] in (1, 3):
        return x
    if x.ndim == 4 and x.shape[3] in (1, 3):  # channels-last (N, H, W, C)
        return np.moveaxis(x, -1, 1)
    return None


def _caption(names: list[str], y: int, pred: int, prob: np.ndarray | None) -> str:
    p = f" (p={prob[pred]:.2f})" if prob is not None and 0 <= pred < len(prob) else ""
    return f"pred: {names[pred]}{p} / true: {names[y]}"


def _image_grid(x: np.ndarray, captions: list[str], wrong: np.ndarray) -> str:
    cells = []
    for img, caption, bad in zip(x, captions, wrong):
        cls = "wrong" if bad else "right"
        cells.append(f'<div class="sample {cls}"><img src="{plots.image_uri(img)}" '
                     f'alt="{esc(caption)}"><div class="caption">{esc(caption)}</div></div>')
    return '<div class="samples">' + "".join(cells) + "</div>"


def _text_table(texts: np.ndarray, captions: list[str], wrong: np.ndarray) -> str:
    rows = [[i, str(t), caption] for i, (t, caption) in enumerate(zip(texts, captions))]
    return table(rows, ["#", "text", "prediction"], ["wrong" if bad else "right" for bad in wrong])


def _sample_table(run: RunData, x: np.ndarray | None, captions: list[str], wrong) -> str:
    """Tabular data (x is (N, F)) or no inputs at all: one row per sample."""
    head, rows, extra = ["#"], [[i] for i in range(len(captions))], ""
    if x is not None and x.ndim == 2:
        f = min(x.shape[1], MAX_FEATURES)
        names = run.spec.get("feature_names")
        if not (isinstance(names, list) and len(names) == x.shape[1]):
            names = [f"x{j}" for j in range(x.shape[1])]
        head += [str(n) for n in names[:f]]
        rows = [row + [float(v) for v in x[i, :f]] for i, row in enumerate(rows)]
        if x.shape[1] > f:
            extra = note(f"First {f} of {x.shape[1]} features shown.")
    rows = [row + [caption] for row, caption in zip(rows, captions)]
    classes = ["wrong" if bad else "right" for bad in wrong]
    return extra + table(rows, head + ["prediction"], classes)


@results("regression")
def regression(run: RunData) -> str:
    """Predicted-vs-actual scatter and residual histogram over the test split."""
    s = run.samples or {}
    y, pred = s.get("y"), s.get("pred")
    if y is None or pred is None or np.size(y) != np.size(pred):
        body = note("No test predictions: artifacts/samples.npz is missing or incomplete.")
        return section("regression", "Regression results", body)
    y, pred = np.ravel(y).astype(float), np.ravel(pred).astype(float)
    finite = np.isfinite(y) & np.isfinite(pred)
    if not finite.any():
        return section("regression", "Regression results", note("No finite test predictions."))
    body = '<div class="grid" id="scatter">' + figure(
        plots.regression_scatter(y, pred), "predicted vs actual") + figure(
        plots.residual_histogram(y, pred), "residuals") + "</div>"
    resid = pred[finite] - y[finite]
    body += note(f"{finite.sum():,} test examples; mean residual {fmt_num(float(resid.mean()))}, "
                 f"residual std {fmt_num(float(resid.std()))}.")
    return section("regression", "Regression results", body)


FORECASTERS = (("model", "test"), ("persistence", "baseline/persistence"),
               ("seasonal-naive", "baseline/seasonal-naive"))


@results("forecast")
def forecast(run: RunData) -> str:
    """Forecast vs actual over the test part, multi-step fans, residuals, and the model
    against persistence and seasonal-naive on the same test windows."""
    s = run.samples or {}
    y, pred = s.get("y"), s.get("pred")
    if y is None or pred is None or np.shape(y) != np.shape(pred) or not np.size(y):
        body = note("No test forecasts: artifacts/samples.npz is missing or incomplete.")
        return section("forecast", "Forecast results", body + _forecast_table(run))
    y, pred = np.asarray(y, dtype=float), np.asarray(pred, dtype=float)
    y, pred = (y[:, None], pred[:, None]) if y.ndim == 1 else (y, pred)  # (N, H)
    time = s.get("time")
    body = '<div id="forecast-plot">' + figure(plots.forecast_vs_actual(y, pred, time),
                                               "forecast vs actual") + "</div>"
    if y.shape[1] > 1:
        body += figure(plots.forecast_fans(y, pred, time), "multi-step forecasts")
    body += '<div class="grid">' + figure(plots.residuals_over_time(y, pred, time),
                                          "residuals over time") + figure(
        plots.residual_histogram(y[:, 0], pred[:, 0]), "residual histogram") + "</div>"
    body += note(f"{len(y):,} test windows, horizon {y.shape[1]}. The plots show the first step; "
                 "the table scores every step of the same windows.")
    return section("forecast", "Forecast results", body + _forecast_table(run))


def _forecast_table(run: RunData) -> str:
    rows = []
    for name, prefix in FORECASTERS:
        values = [run.metric(f"{prefix}/{m}") for m in ("mae", "rmse", "mase")]
        if any(v is not None for v in values):
            rows.append([name, *values])
    if not rows:
        return note("No test metrics were recorded.")
    best = min(range(len(rows)), key=lambda i: rows[i][3] if rows[i][3] is not None else np.inf)
    classes = ["total" if i == best else "" for i in range(len(rows))]  # the lowest MASE
    return ("<h3>Model vs naive forecasts (test)</h3>\n"
            + table(rows, ["forecaster", "MAE", "RMSE", "MASE"], classes)
            + note("MASE: MAE divided by the in-sample MAE of the (seasonal) naive forecast on "
                   "the training part; persistence repeats the last observed value, "
                   "seasonal-naive the value one season earlier."))
