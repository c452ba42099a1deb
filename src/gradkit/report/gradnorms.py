"""Per-layer gradient norms in the report (`output.grad_norms=true`; recorded by
gradkit/training/gradnorms.py into artifacts/grad_norms.json). Files only, no torch.

    read(run_dir)           -> {"every", "layers": {model: [names]}, "records": [...]} or None
    depth_profile(data)     -> (layer names, norms of the first epoch's records) for one model
    section(run)            -> the report section: norms by depth, norms over steps
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from gradkit.report import sections
from gradkit.report.plots import _figure, figure_uri

ARTIFACT = Path("artifacts") / "grad_norms.json"


def read(run_dir: str | Path) -> dict[str, Any] | None:
    path = Path(run_dir) / ARTIFACT
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("records") else None


def main_model(data: dict[str, Any]) -> str:
    """The model with the most layers (the network itself; a GAN: the first of equals)."""
    return max(data["layers"], key=lambda name: len(data["layers"][name]))


def matrix(data: dict[str, Any], model: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(steps, epochs, norms (records, layers)) of one model's records."""
    recs = [r for r in data["records"] if r.get("model") == model and r.get("norms")]
    steps = np.array([r["step"] for r in recs], dtype=float)
    epochs = np.array([r.get("epoch", 0) for r in recs], dtype=float)
    norms = np.array([r["norms"] for r in recs], dtype=float).reshape(len(recs), -1)
    return steps, epochs, norms


def depth_profile(data: dict[str, Any], model: str | None = None) -> tuple[list[str], np.ndarray]:
    """Each layer's geometric-mean gradient norm over the records of the first epoch (the
    steps where vanishing gradients decide whether a deep network starts to learn)."""
    model = model or main_model(data)
    steps, epochs, norms = matrix(data, model)
    if not len(norms):
        return data["layers"].get(model, []), np.array([])
    first = norms[epochs == epochs.min()]
    return data["layers"][model], np.exp(np.log(np.clip(first, 1e-30, None)).mean(0))


def first_over_last(profile: np.ndarray) -> float | None:
    """log10 of (first layer's norm / last layer's): about 0 when gradient reaches the input
    undiminished, -k when k orders of magnitude vanish on the way."""
    if len(profile) < 2 or profile[-1] <= 0 or profile[0] <= 0:
        return None
    return math.log10(profile[0] / profile[-1])


def _by_depth(names: list[str], profile: np.ndarray) -> str:
    fig = _figure((6.4, 3.6))
    ax = fig.subplots()
    ax.plot(np.arange(1, len(profile) + 1), profile, "o-", color="#1f77b4")
    ax.set(yscale="log", xlabel="layer (1 = nearest the input)", ylabel="gradient L2 norm",
           title="gradient norm by depth, first epoch")
    ax.grid(alpha=0.3, which="both")
    return figure_uri(fig)


def _over_steps(steps: np.ndarray, norms: np.ndarray) -> str:
    import matplotlib

    fig = _figure((6.4, 3.6))
    ax = fig.subplots()
    cmap = matplotlib.colormaps["viridis"]
    n = norms.shape[1]
    for j in range(n):
        ax.plot(steps, np.clip(norms[:, j], 1e-30, None), lw=1.2, color=cmap(j / max(n - 1, 1)),
                label=f"layer {j + 1}" if j in (0, n - 1) else None)
    ax.set(yscale="log", xlabel="optimiser step", ylabel="gradient L2 norm",
           title="per-layer gradient norms during training")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return figure_uri(fig)


def section(run) -> str:
    """'Gradients' for a run that recorded them, else ''."""
    data = read(run.run_dir)
    if data is None:
        return ""
    model = main_model(data)
    names, profile = depth_profile(data, model)
    steps, _, norms = matrix(data, model)
    if not len(profile):
        return ""
    ratio = first_over_last(profile)
    parts = ['<div class="grid">', sections.figure(_by_depth(names, profile),
             "geometric mean over the first epoch's records, layer by layer"),
             sections.figure(_over_steps(steps, norms), f"every {data.get('every')} steps, "
                             "input layer dark, output layer yellow"), "</div>"]
    rows = [[i + 1, name, float(v)] for i, (name, v) in enumerate(zip(names, profile))]
    parts.append(sections.table(rows, ["layer", "module", "gradient norm (first epoch)"]))
    if ratio is not None:
        parts.append(sections.note(
            f"The first layer's gradient is 10^{ratio:.1f} of the last layer's in the first "
            "epoch" + (": the gradient vanishes on its way to the input." if ratio < -2 else ".")))
    return sections.section("gradients", "Gradients", "\n".join(parts))
