"""A recipe trained with several seeds (`seeds:`, `--seeds N`), with or without variants: every
(variant, seed) cell is an ordinary run directory listed in the parent's comparison.json. This
module reads them back (files only) into per-variant statistics and the comparison of each
variant with the first, and draws what the comparison report shows: curves with a band
(mean ± sd across seeds), a table of mean ± 95% CI, and the verdicts.

    summary(parent) -> {"metric", "higher_is_better", "variants": {name: {metric: stats}},
                        "comparisons": [{"variant", "reference", "diff", "ci95", "verdict"}]}
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from gradkit.report import sections
from gradkit.report.plots import _figure, figure_uri
from gradkit.report.rundir import RunData, as_float, load_run
from gradkit.report import lessons
from gradkit.report.stats import higher_is_better, summarize, verdict, welch

COLORS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def cells(parent: Path) -> dict[str, dict[str, RunData]]:
    """{variant: {seed: the run's files}} of a parent with seeds, in the recipe's order."""
    info = json.loads((parent / "comparison.json").read_text(encoding="utf-8"))
    return {name: {seed: load_run(parent / sub) for seed, sub in by_seed.items()
                   if (parent / sub / "config.yaml").is_file()}
            for name, by_seed in info.get("cells", {}).items()}


def headline(groups: dict[str, dict[str, RunData]]) -> str | None:
    """The metric compared: the test counterpart of the monitored one (val/accuracy ->
    test/accuracy), else the monitored one, else an RL run's eval/mean_return."""
    runs = [run for group in groups.values() for run in group.values()]
    if not runs:
        return None
    monitor = str(runs[0].setting("train", "monitor") or "val/loss")
    candidates = [f"test/{monitor.split('/', 1)[-1]}", monitor, "eval/mean_return", "test/loss"]
    return next((k for k in candidates if all(k in run.metrics for run in runs)), None)


def lesson_of(parent: Path) -> dict[str, Any] | None:
    """The recipe's `lesson:` section as comparison.json recorded it, or None."""
    info = json.loads((parent / "comparison.json").read_text(encoding="utf-8"))
    return info.get("lesson") or None


def summary(parent: str | Path) -> dict[str, Any]:
    """Every numeric final metric's statistics per variant (with the measurements derived from
    each run's files: seconds per epoch, parameters, ...), each variant against the first, and
    a lesson's verdict where the recipe states a claim."""
    parent = Path(parent)
    groups = cells(parent)
    lesson = lesson_of(parent)
    metric = headline(groups)
    out: dict[str, Any] = {"metric": metric, "variants": {}, "comparisons": []}
    for name, by_seed in groups.items():
        values = {seed: {**{k: as_float(v) for k, v in run.metrics.items()}, **lessons.derived(run, lesson)}
                  for seed, run in by_seed.items()}
        keys = sorted({k for v in values.values() for k, x in v.items() if x is not None})
        out["variants"][name] = {k: {**summarize([v.get(k) for v in values.values()]),
                                     "seeds": list(by_seed)} for k in keys}
    if lesson:
        out["lesson"] = lessons.judge(out["variants"], lesson)
    if metric is None:
        return out
    out["higher_is_better"] = better = higher_is_better(metric)
    names = list(groups)
    for name in names[1:]:
        ref, other = (out["variants"][n].get(metric, {}).get("values", []) for n in (names[0], name))
        result = welch(ref, other)
        n = min(len(ref), len(other))
        out["comparisons"].append({"variant": name, "reference": names[0], "metric": metric, **result,
                                   "verdict": verdict(result, better, n)})
    return out


def band(runs: dict[str, RunData], key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(epochs, mean, sd) of a per-epoch metric across seeds; each epoch over the seeds that
    reached it (early stopping may end some sooner)."""
    per_epoch: dict[float, list[float]] = {}
    for run in runs.values():
        for x, y in zip(*run.series(key)):
            per_epoch.setdefault(float(x), []).append(float(y))
    xs = np.array(sorted(per_epoch))
    values = [np.array(per_epoch[x]) for x in xs]
    mean = np.array([v.mean() for v in values])
    sd = np.array([v.std(ddof=1) if len(v) > 1 else 0.0 for v in values])
    return xs, mean, sd


MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def curves(groups: dict[str, dict[str, RunData]], key: str) -> str:
    """One panel: each variant's mean curve across seeds with a mean ± sd band."""
    fig = _figure((6.4, 4.0))
    ax = fig.subplots()
    for i, (name, runs) in enumerate(groups.items()):
        xs, mean, sd = band(runs, key)
        if not len(xs):
            continue
        color = COLORS[i % len(COLORS)]
        ax.plot(xs, mean, "-", marker=MARKERS[i % len(MARKERS)], ms=4, lw=1.5, color=color,
                label=f"{name} (n={len(runs)})")
        ax.fill_between(xs, mean - sd, mean + sd, color=color, alpha=0.2, lw=0)
    ax.set(xlabel="epoch" if "eval/" not in key else "environment steps", title=f"{key}: mean ± sd over seeds")
    if "loss" in key and _spans_decades(groups, key):
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return figure_uri(fig)


def _spans_decades(groups: dict[str, dict[str, RunData]], key: str) -> bool:
    values = np.array([v for g in groups.values() for r in g.values() for v in r.series(key)[1]], dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    return len(values) > 1 and values.max() / values.min() > 30


def fmt(stats: dict[str, Any] | None) -> str:
    """'0.8912 ± 0.0031 [0.8835, 0.8989]': mean ± sd [95% CI]; one value where all seeds agree."""
    if not stats or stats.get("mean") is None:
        return "–"
    mean = stats["mean"]
    text = f"{int(mean):,}" if float(mean).is_integer() and abs(mean) >= 1000 else f"{mean:.4g}"
    if stats.get("sd"):
        lo, hi = stats["ci95"]
        text += f" ± {stats['sd']:.2g} [{lo:.4g}, {hi:.4g}]"
    seeds = stats.get("seeds")
    if seeds and stats.get("n") is not None and stats["n"] < len(seeds):
        text += f" ({stats['n']} of {len(seeds)} seeds)"
    return text


ORDER = ("test/", "gap/", "trainset/", "reach/", "eval/", "seconds/", "train/seconds", "params",
         "grads/", "baseline/")


def table_keys(variants: dict[str, dict[str, Any]], metric: str | None) -> list[str]:
    """The rows of the results table: the headline first, then by ORDER (timings of the
    baselines and their row counts left out)."""
    keys = list(dict.fromkeys(k for stats in variants.values() for k in stats))
    picked = [metric] if metric in keys else []
    for prefix in ORDER:
        for k in keys:
            noise = k.endswith("/train_rows") or (k.startswith("baseline/") and k.endswith("/seconds"))
            if k.startswith(prefix) and k not in picked and not noise:
                picked.append(k)
    return picked


def section(parent: Path, groups: dict[str, dict[str, RunData]]) -> str:
    """The seeds part of the comparison report: a lesson's claim and verdict (its own section),
    then curves with bands, the table of mean ± sd [95% CI], the verdicts."""
    s = summary(parent)
    metric = s["metric"]
    lesson = lessons.section(s, groups) if s.get("lesson") else ""
    parts = []
    curve_key = next((k for k in (f"val/{(metric or '').split('/')[-1]}", "val/loss", "eval/mean_return")
                      if all(len(r.series(k)[0]) for g in groups.values() for r in g.values())), None)
    panels = []
    if curve_key:
        panels.append(sections.figure(curves(groups, curve_key),
                                      f"{curve_key} per epoch: each variant's mean over its seeds, "
                                      "the band one standard deviation either side"))
    if all(len(r.series("train/loss")[0]) for g in groups.values() for r in g.values()):
        panels.append(sections.figure(curves(groups, "train/loss"), "training loss per epoch, mean ± sd"))
    if panels:
        parts.append('<div class="grid">' + "".join(panels) + "</div>")
    names = list(s["variants"])
    rows = [["seeds", *[len(groups.get(n, {})) for n in names]]]
    rows += [[k, *[fmt(s["variants"][n].get(k)) for n in names]] for k in table_keys(s["variants"], metric)]
    parts.append(sections.table(rows, ["measurement", *names]))
    parts.append(sections.note("mean ± sample standard deviation [95% confidence interval of the "
                               "mean, Student t] over the seeds; one number where every seed gave it."))
    if s["comparisons"]:
        rows = [[c["variant"], c["reference"], "–" if c["diff"] is None else f"{c['diff']:+.4g}",
                 "–" if c["ci95"] is None else f"[{c['ci95'][0]:+.4g}, {c['ci95'][1]:+.4g}]",
                 c["verdict"]] for c in s["comparisons"]]
        parts.append(sections.table(rows, ["variant", "against", f"difference in {metric}",
                                           "95% CI (Welch)", "verdict"]))
    return lesson + sections.section("seeds", f"Over seeds: {metric or 'no common metric'}", "\n".join(parts))
