"""The report's section for reinforcement-learning runs: returns against the random policy, losses,
and one evaluation episode of the best checkpoint as an animated GIF."""
from __future__ import annotations

import base64

import numpy as np

from gradkit.report.plots import BEST_COLOR, TRAIN_COLOR, VAL_COLOR, _figure, figure_uri
from gradkit.report.rundir import RunData
from gradkit.report.sections import figure, note, results, section, table


def _series(run: RunData, key: str) -> tuple[np.ndarray, np.ndarray]:
    rows = [(r["step"], r[key]) for r in run.epochs if r.get(key) is not None and "step" in r]
    return (np.array([s for s, _ in rows]), np.array([v for _, v in rows])) if rows else (np.array([]),) * 2


def _returns_panel(run: RunData, key: str, title: str) -> str | None:
    steps, values = _series(run, key)
    if not len(steps):
        return None
    fig = _figure()
    ax = fig.subplots()
    ax.plot(steps, values, color=TRAIN_COLOR, marker=".", label=title)
    if key == "eval/mean_return":
        _, std = _series(run, "eval/std_return")
        if len(std) == len(values):
            ax.fill_between(steps, values - std, values + std, color=TRAIN_COLOR, alpha=0.2)
    baseline = run.metric("baseline/random_mean_return")
    if baseline is not None:
        ax.axhline(baseline, color=BEST_COLOR, linestyle="--", label="random policy")
    threshold = run.metric("eval/threshold")
    if threshold is not None:
        ax.axhline(threshold, color=VAL_COLOR, linestyle=":", label="solved")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("return")
    ax.legend(fontsize=8)
    return figure_uri(fig)


def _losses_panel(run: RunData) -> str | None:
    keys = sorted({k for r in run.epochs for k in r if k.startswith("losses/")})
    if not keys:
        return None
    fig = _figure()
    ax = fig.subplots()
    for key in keys:
        steps, values = _series(run, key)
        ax.plot(steps, values, marker=".", label=key.removeprefix("losses/"))
    ax.set_xlabel("environment steps")
    ax.legend(fontsize=8)
    return figure_uri(fig)


def _episode(run: RunData) -> str:
    """artifacts/episode.gif inline (a data URI keeps the report one file), or why it is absent."""
    path = run.run_dir / "artifacts" / "episode.gif"
    if path.is_file():
        uri = "data:image/gif;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
        return figure(uri, "One deterministic evaluation episode of the best checkpoint "
                      "(`gradkit play RUN_DIR --gif out.gif` for more)")
    reason = run.run.get("episode_gif_skipped")
    return note(f"No episode animation: {reason}" if reason else "No episode animation was recorded.")


@results("rl")
def rl(run: RunData) -> str:
    """Final figures, then the training-episode return, evaluation return and loss curves."""
    m = run.metrics
    rows = [[k, v if isinstance(v, (int, float)) else str(v)] for k, v in m.items()]
    body = table(rows, ["metric", "value"]) if rows else note("No metrics.json was recorded.")
    panels = [(_returns_panel(run, "rollout/episodic_return", "training episodes"),
               "Mean return of the training episodes finished between evaluations"),
              (_returns_panel(run, "eval/mean_return", "evaluation"),
               "Deterministic evaluation: mean ± std return"),
              (_losses_panel(run), "Losses at each evaluation")]
    body += '<div class="grid">' + "".join(figure(uri, cap) for uri, cap in panels if uri) + "</div>"
    body += _episode(run)
    return section("rl", "Results", body)
