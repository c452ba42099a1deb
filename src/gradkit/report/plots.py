"""Report figures as base64 PNG data URIs, so the HTML needs no other file.

Figures are built with `matplotlib.figure.Figure` and an Agg canvas, never through pyplot:
pyplot keeps global state and would switch the backend of a user's notebook. A `Figure`
with no pyplot manager is freed by the garbage collector, so nothing needs closing.
"""
from __future__ import annotations

import base64
import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure
from matplotlib.image import imsave

from gradkit.report.rundir import RunData

DPI = 100
PANEL_SIZE = (4.8, 3.2)  # inches; two panels fit side by side on a laptop screen
TRAIN_COLOR, VAL_COLOR, BEST_COLOR = "#1f77b4", "#d62728", "#7f7f7f"


def png_uri(png: bytes) -> str:
    """PNG bytes as a `data:image/png;base64,...` URI."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def figure_uri(fig: Figure, crop: bool | None = None) -> str:
    """Render a figure to a PNG data URI.

    Example:
        >>> fig = _figure(); _ = fig.subplots().plot([1, 2], [3, 1])
        >>> figure_uri(fig)[:22]
        'data:image/png;base64,'
    """
    buf = io.BytesIO()
    # `crop` to the drawn contents ("tight") draws the figure twice; a figure laid out by an
    # engine (ours: constrained) or with fixed margins (`_figure(fixed=True)`) already fits
    # them. Default: crop figures without a layout engine (pyplot's, e.g. Optuna's plots).
    # Software=None drops matplotlib's URL from the PNG text chunk: the report names no site.
    if crop is None:
        crop = fig.get_layout_engine() is None
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight" if crop else None,
                metadata={"Software": None})
    return png_uri(buf.getvalue())


def image_uri(image: np.ndarray) -> str:
    """One sample image, (C, H, W) with C = 1 or 3, or (H, W), as a PNG data URI."""
    img = np.asarray(image)
    if img.ndim == 3:
        img = img[0] if img.shape[0] == 1 else np.moveaxis(img, 0, -1)  # (C,H,W) -> (H,W,C)
    if img.dtype != np.uint8:  # float images: stretch to 0..1 so any scale is visible
        img = img.astype(float)
        span = img.max() - img.min()
        img = (img - img.min()) / span if span > 0 else np.zeros_like(img)
    vmax = 255 if img.dtype == np.uint8 else 1.0
    buf = io.BytesIO()
    imsave(buf, img, format="png", cmap="gray", vmin=0, vmax=vmax, metadata={"Software": None})
    return png_uri(buf.getvalue())


# inches left, right, bottom and top of a small panel's axes: room for 8-character tick labels,
# an axis label and a title
PANEL_MARGINS = (0.75, 0.15, 0.5, 0.35)


def _figure(size: tuple[float, float] = PANEL_SIZE, fixed: bool = False) -> Figure:
    """A figure laid out by matplotlib's constrained layout, or with `fixed` PANEL_MARGINS: a
    panel of known contents (one axes, numeric ticks) drawn in about half the time."""
    fig = Figure(figsize=size, layout=None if fixed else "constrained")
    FigureCanvasAgg(fig)
    if fixed:
        left, right, bottom, top = PANEL_MARGINS
        fig.subplots_adjust(left=left / size[0], right=1 - right / size[0],
                            bottom=bottom / size[1], top=1 - top / size[1])
    return fig


def best_epoch(run: RunData) -> float | None:
    """The run's recorded best epoch, else the epoch of lowest validation loss."""
    best = run.run.get("best_epoch")
    if isinstance(best, int) and not isinstance(best, bool):
        return float(best)
    epochs, val = run.series("val/loss")
    keep = np.isfinite(val)
    return float(epochs[keep][val[keep].argmin()]) if keep.any() else None


def curve_panels(run: RunData) -> list[tuple[str, list[str]]]:
    """(title, keys) per learning-curve panel: loss first, then other metrics, then lr."""
    names: list[str] = []
    for rec in run.epochs:
        for key in rec:
            split, _, name = key.partition("/")
            if split in ("train", "val") and name and name not in names:
                names.append(name)
    names.sort(key=lambda n: n != "loss")  # stable: loss first, others in logged order
    panels = []
    for name in names:
        keys = [k for k in (f"train/{name}", f"val/{name}") if len(run.series(k)[0])]
        if keys:
            panels.append((name, keys))
    if len(run.series("lr")[0]):
        panels.append(("learning rate", ["lr"]))
    return panels


def learning_curves(run: RunData) -> list[tuple[str, str]]:
    """(title, data URI) per panel; the best epoch is a dashed vertical line."""
    best = best_epoch(run)
    colors = {"train": TRAIN_COLOR, "val": VAL_COLOR}
    out = []
    for title, keys in curve_panels(run):
        fig = _figure(fixed=True)
        ax = fig.subplots()
        for key in keys:
            x, y = run.series(key)
            ax.plot(x, y, "o-", ms=3, lw=1.5, label=key, color=colors.get(key.split("/")[0]))
        if title == "learning rate" and _log_scale(run.series("lr")[1]):
            ax.set_yscale("log")
        if best is not None:
            ax.axvline(best, ls="--", lw=1, color=BEST_COLOR, label=f"best epoch {best:g}")
        ax.set(xlabel="epoch", title=title)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        out.append((title, figure_uri(fig, crop=False)))
    return out


def _log_scale(values: np.ndarray) -> bool:
    values = values[np.isfinite(values)]
    return bool(len(values)) and values.min() > 0 and values.max() / values.min() > 10


def confusion_matrix(cm: np.ndarray, names: list[str]) -> str:
    """Heat map, rows = true class; colour is the share of the true class, so rare classes
    are as visible as common ones; counts are written in when K <= 20."""
    k = len(cm)
    side = min(max(4.5, 0.45 * k + 2.0), 14.0)
    fig = _figure((side, side * 0.85))
    ax = fig.subplots()
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0)
    # A square-root colour scale lifts 5-15% confusions out of the white background.
    im = ax.imshow(share, cmap="Blues", norm=PowerNorm(0.5, vmin=0, vmax=1))
    fig.colorbar(im, ax=ax, shrink=0.8, label="share of true class")
    if k <= 40:  # beyond that, names overlap into an unreadable smear
        ax.set_xticks(range(k), names, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(k), names, fontsize=8)
    if k <= 20:
        for (i, j), count in np.ndenumerate(cm):
            color = "white" if share[i, j] > 0.35 else "black"
            # inside the axes: left out of the layout, which would measure each of them
            ax.text(j, i, f"{count:.0f}", ha="center", va="center", fontsize=7, color=color,
                    in_layout=False)
    ax.set(xlabel="predicted class", ylabel="true class", title="confusion matrix (test)")
    return figure_uri(fig)


def attention_map(weights: np.ndarray, tokens: list[str]) -> str:
    """One text's attention, one panel per layer: (layers, n, n) weights averaged over heads,
    row i = how query token i spreads its attention over the tokens (each row sums to 1)."""
    layers, n = len(weights), len(tokens)
    side = min(max(2.4, 0.2 * n + 1.0), 6.0)  # inches a panel; tick labels need ~0.2 a token
    fig = _figure((side * layers + 0.9, side))
    axes = fig.subplots(1, layers, squeeze=False)[0]
    # A shared square-root scale: one layer's diffuse 1/n rows stay visible beside a sharp one.
    norm = PowerNorm(0.5, vmin=0, vmax=max(float(weights.max()), 1e-6))
    for layer, ax in enumerate(axes):
        im = ax.imshow(weights[layer], cmap="Blues", norm=norm)
        ax.set_xticks(range(n), tokens, rotation=90, fontsize=7)
        ax.set_yticks(range(n), tokens if layer == 0 else [""] * n, fontsize=7)
        ax.set_title(f"layer {layer + 1}", fontsize=9)
        ax.set_xlabel("attended token", fontsize=8)
    axes[0].set_ylabel("query token", fontsize=8)
    bar = fig.colorbar(im, ax=list(axes), shrink=0.8)
    bar.set_label("attention (mean over heads)", fontsize=8)
    return figure_uri(fig)


def regression_scatter(y: np.ndarray, pred: np.ndarray, max_points: int = 5000) -> str:
    """Predicted vs actual with the y = x line; subsampled so big test sets stay fast."""
    y, pred = np.ravel(y).astype(float), np.ravel(pred).astype(float)
    keep = np.isfinite(y) & np.isfinite(pred)
    y, pred = y[keep], pred[keep]
    if len(y) > max_points:
        keep = np.random.default_rng(0).choice(len(y), max_points, replace=False)
        y, pred = y[keep], pred[keep]
    fig = _figure((4.8, 4.4))
    ax = fig.subplots()
    ax.scatter(y, pred, s=6, alpha=0.5, color=TRAIN_COLOR, label="test examples")
    lo, hi = min(y.min(), pred.min()), max(y.max(), pred.max())
    ax.plot([lo, hi], [lo, hi], color=VAL_COLOR, lw=1.2, label="y = x (perfect)")
    ax.set(xlabel="actual", ylabel="predicted", title="predicted vs actual (test)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return figure_uri(fig)


def residual_histogram(y: np.ndarray, pred: np.ndarray) -> str:
    """Histogram of pred - actual; a centred, narrow bell means unbiased, accurate fits."""
    residuals = np.ravel(pred).astype(float) - np.ravel(y).astype(float)
    residuals = residuals[np.isfinite(residuals)]
    fig = _figure()
    ax = fig.subplots()
    ax.hist(residuals, bins=min(50, max(5, len(residuals) // 10)), color=TRAIN_COLOR)
    ax.axvline(0, color=VAL_COLOR, lw=1.2)
    ax.set(xlabel="predicted − actual", ylabel="examples", title="residuals (test)")
    ax.grid(alpha=0.3)
    return figure_uri(fig)


def time_axis(time: np.ndarray | None, n: int) -> tuple[np.ndarray, str]:
    """x positions of n test windows: numeric labels (years), dates, or the window's index."""
    if time is not None and len(time) == n:
        if np.issubdtype(time.dtype, np.number):
            return time.astype(float), "time"
        try:
            return time.astype("datetime64[D]"), "date"
        except ValueError:  # free-form labels: plot by position
            pass
    return np.arange(n, dtype=float), "test window"


def forecast_vs_actual(y: np.ndarray, pred: np.ndarray, time: np.ndarray | None) -> str:
    """The test part's actual values and the one-step-ahead forecasts, y and pred (N, H)."""
    t, label = time_axis(time, len(y))
    fig = _figure((9.6, 3.4))
    ax = fig.subplots()
    ax.plot(t, y[:, 0], color="black", lw=1.4, label="actual")
    ax.plot(t, pred[:, 0], "o-", ms=2.5, lw=1.1, color=VAL_COLOR, label="forecast, 1 step ahead")
    ax.set(xlabel=label, ylabel="value", title="forecast vs actual (test part)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return figure_uri(fig)


def forecast_fans(y: np.ndarray, pred: np.ndarray, time: np.ndarray | None, fans: int = 5) -> str:
    """Whole multi-step forecasts from a few evenly spaced origins, over the actual values.

    Window i forecasts the values at test positions i .. i+H-1, so its fan is drawn there."""
    n, h = y.shape
    t, label = time_axis(time, n)
    fig = _figure((9.6, 3.4))
    ax = fig.subplots()
    ax.plot(t, y[:, 0], color="black", lw=1.4, label="actual")
    starts = np.unique(np.linspace(0, max(n - h, 0), fans).round().astype(int))
    for k, i in enumerate(starts):
        steps = min(h, n - i)
        ax.plot(t[i:i + steps], pred[i, :steps], "o-", ms=2.5, lw=1.2, color=VAL_COLOR,
                alpha=0.85, label=f"{h}-step forecasts from {len(starts)} origins" if k == 0 else None)
    ax.set(xlabel=label, ylabel="value", title=f"multi-step forecasts, horizon {h} (test part)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return figure_uri(fig)


def residuals_over_time(y: np.ndarray, pred: np.ndarray, time: np.ndarray | None) -> str:
    """One-step residuals (forecast - actual) in time order: runs of one sign mean lag or bias."""
    t, label = time_axis(time, len(y))
    fig = _figure()
    ax = fig.subplots()
    ax.plot(t, pred[:, 0] - y[:, 0], "o-", ms=2.5, lw=1, color=TRAIN_COLOR)
    ax.axhline(0, color=VAL_COLOR, lw=1.2)
    ax.set(xlabel=label, ylabel="forecast − actual", title="residuals over time (test, step 1)")
    ax.grid(alpha=0.3)
    return figure_uri(fig)
