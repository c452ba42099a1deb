"""Pictures of attributions: image overlays, feature bar charts, highlighted text.

One colour code everywhere: green is evidence for the predicted class, pink evidence against
it; methods that only give magnitudes (saliency, gradcam) use a single heat scale. Each image's
or text's colours are scaled to its own largest attribution (the 99th percentile for images,
so one hot pixel does not wash out the rest): compare where, not how much, across examples.

Figures are `matplotlib.figure.Figure`s on an Agg canvas, never pyplot (see report/plots.py);
this module needs numpy and matplotlib only, so the report can use it without torch.
"""
from __future__ import annotations

import html
import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 100
SIGNED_CMAP, MAGNITUDE_CMAP = "PiYG", "inferno"  # PiYG: pink negative, green positive
FOR, AGAINST = (26, 150, 65), (208, 28, 139)  # the text highlights' green and pink, RGB
MAX_COLUMNS = 8
MAX_FEATURES = 20  # bar charts: the most important ones; the JSON keeps all


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    # constrained layout already fits the contents: "tight" would draw the figure twice
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _figure(size: tuple[float, float]) -> Figure:
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def heat(attr: np.ndarray, signed: bool) -> tuple[np.ndarray, float, float]:
    """(H, W) map from (C, H, W) attributions (summed over channels), with its colour limits:
    symmetric around 0 when signed, 0 up otherwise, at the 99th percentile of |map|."""
    m = np.asarray(attr, dtype=np.float64).sum(0)
    top = float(np.percentile(np.abs(m), 99)) or float(np.abs(m).max()) or 1.0
    return m, (-top if signed else 0.0), top


def overlays(images: np.ndarray, attrs: np.ndarray, captions: list[str], signed: bool,
             title: str) -> bytes:
    """PNG: each image (top row) over its attributions laid on a dimmed copy (bottom row);
    a pixel's colour is opaque in proportion to its |attribution|, so the image shows through
    where the model looked at nothing.

    images: (E, C, H, W) floats in 0..1 (de-normalised); attrs: (E, C', H, W), C' = C or 1.

    >>> png = overlays(np.zeros((2, 1, 8, 8)), np.random.randn(2, 1, 8, 8), ["a", "b"], True, "t")
    >>> png[:4] == b"\\x89PNG"
    True
    """
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    cols = min(len(images), MAX_COLUMNS)
    bands = -(-len(images) // cols)  # rows of examples, each an image row over an overlay row
    width, height = 1.5 * cols + 0.9, 3.3 * bands + 0.2
    # fixed margins, not constrained layout: the grid's contents are known (square images, a
    # one-line caption each, a colour bar) and laying out its 2 x 8 axes cost half the drawing
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.1 / width, right=1 - 0.9 / width, bottom=0.1 / height,
                        top=1 - 0.5 / height, wspace=0.08, hspace=0.3)
    axes = fig.subplots(2 * bands, cols, squeeze=False)
    cmap = colormaps[SIGNED_CMAP if signed else MAGNITUDE_CMAP]
    for ax in axes.flat:
        ax.set_axis_off()
    for i in range(len(images)):
        top, bottom = axes[2 * (i // cols), i % cols], axes[2 * (i // cols) + 1, i % cols]
        img = images[i][0] if images[i].shape[0] == 1 else np.moveaxis(images[i], 0, -1)
        grey = img if img.ndim == 2 else img.mean(-1)
        m, lo, hi = heat(attrs[i], signed)
        rgba = cmap(Normalize(lo, hi, clip=True)(m))  # (H, W, 4)
        rgba[..., 3] = np.clip(np.abs(m) / hi, 0, 1) ** 0.7
        top.imshow(img, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        top.set_title(captions[i], fontsize=8)
        bottom.imshow(grey * 0.5, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        bottom.imshow(rgba, interpolation="nearest")
    scale = ScalarMappable(Normalize(-1 if signed else 0, 1), cmap)
    low = axes[-1, 0].get_position()  # the last overlay row: the bar stands beside it
    cax = fig.add_axes((1 - 0.7 / width, low.y0, 0.12 / width, low.height))
    bar = fig.colorbar(scale, cax=cax, ticks=[])
    bar.set_label("for ↑  against ↓" if signed else "more ↑", fontsize=8)
    fig.suptitle(title, fontsize=10, y=1 - 0.12 / height)
    return _png(fig)


def importance_bars(names: list[str], values: np.ndarray, title: str) -> bytes:
    """PNG: horizontal bars of each feature's mean |attribution|, largest on top."""
    order = np.argsort(-np.asarray(values))[:MAX_FEATURES]
    fig = _figure((5.6, 0.8 + 0.3 * len(order)))
    ax = fig.subplots()
    ax.barh(range(len(order)), np.asarray(values)[order], color="#4d4d4d")
    ax.set_yticks(range(len(order)), [names[i] for i in order], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("mean |attribution|", fontsize=8)
    ax.set_title(title, fontsize=9)
    return _png(fig)


def signed_bars(names: list[str], values: np.ndarray, raw: np.ndarray, title: str) -> bytes:
    """PNG: one row's signed attribution per feature, labelled with its raw value; green bars
    push towards the predicted class, pink ones away; the largest |value| on top."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(-np.abs(values))[:MAX_FEATURES]
    fig = _figure((5.6, 0.8 + 0.3 * len(order)))
    ax = fig.subplots()
    colours = ["#%02x%02x%02x" % (FOR if values[i] >= 0 else AGAINST) for i in order]
    ax.barh(range(len(order)), values[order], color=colours)
    ax.set_yticks(range(len(order)), [f"{names[i]} = {raw[i]:.4g}" for i in order], fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0, color="#999999", linewidth=0.8)
    ax.set_xlabel("attribution (+ for the predicted class)", fontsize=8)
    ax.set_title(title, fontsize=9)
    return _png(fig)


def highlight_html(tokens: list[str], scores: list[float], signed: bool) -> str:
    """Tokens as HTML spans shaded by their score (inline styles: the snippet stands alone).

    WordPiece continuations (`##ing`) join the token before them; the tooltip gives the score.

    >>> highlight_html(["good", "film"], [1.0, -0.5], True)[:29]
    '<span class="attr" title="+1.'
    """
    s = np.asarray(scores, dtype=np.float64)
    top = float(np.abs(s).max()) if len(s) else 0.0
    parts = []
    for token, score in zip(tokens, s):
        strength = abs(score) / top if top > 0 else 0.0
        r, g, b = FOR if score >= 0 or not signed else AGAINST
        style = f"background: rgba({r}, {g}, {b}, {0.85 * strength:.2f}); padding: 1px 2px; border-radius: 3px"
        joined = token.startswith("##") and parts
        text = token[2:] if joined else token
        span = (f'<span class="attr" title="{score:+.3g}" style="{style}">'
                f"{html.escape(text)}</span>")
        parts.append(span if joined else " " + span)
    return "".join(parts).lstrip()


def text_page(title: str, rows: list[tuple[str, str]]) -> str:
    """A small standalone HTML page: one (caption, highlighted text) pair per example."""
    body = "".join(f"<p><b>{html.escape(caption)}</b><br>{text}</p>" for caption, text in rows)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>'
            f"{html.escape(title)}</title></head><body style=\"font: 15px/1.8 sans-serif; "
            f'max-width: 900px; margin: 24px auto\"><h1>{html.escape(title)}</h1>'
            f"<p>Green: evidence for the predicted class; pink: against it.</p>{body}</body></html>")


def completeness_line(examples: list[dict]) -> str | None:
    """Integrated gradients' completeness in words: how far the attributions' sum lies from
    the logit's change f(x) - f(baseline), worst example against the typical change."""
    pairs = [(e["completeness_gap"], abs(e["logit_change"])) for e in examples
             if "completeness_gap" in e and "logit_change" in e]
    if not pairs:
        return None
    worst = max(gap for gap, _ in pairs)
    typical = float(np.mean([change for _, change in pairs]))
    return (f"Completeness: the attributions of each example add up to its logit's change from "
            f"the baseline within {worst:.3g} (worst example), against changes of "
            f"{typical:.3g} on average; more steps narrow it.")
