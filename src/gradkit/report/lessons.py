"""A lesson: an article's claim (`lesson:` in a recipe with variants and seeds) and the verdict
its measurements give. Files only (the report imports no torch).

    derived(run, lesson) -> per-run measurements beyond metrics.json: seconds/epoch, params,
                            train/seconds, val/accuracy@E, reach/epochs and reach/seconds,
                            grads/first_over_last
    judge(variants, lesson) -> each check's difference, 95% CI (Welch) and result, the verdict
    section(summary, groups) -> the comparison report's "Lesson" section

A check is "supported" when the favoured variant is better beyond seed noise (the 95% CI of
the difference excludes zero), "contradicted" when it is worse beyond it, and otherwise "not
distinguishable from seed noise". The claim is supported when every check is, contradicted
when some check is contradicted and none supported, partly supported when some checks are,
and otherwise not supported at this many seeds. The verdict comes from the numbers alone.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from gradkit.report import gradnorms, sections
from gradkit.report.plots import _figure, figure_uri
from gradkit.report.rundir import RunData, as_float
from gradkit.report.stats import higher_is_better, verdict, welch

COLORS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
RESULT = {"better": "supported", "worse": "contradicted"}


def derived(run: RunData, lesson: dict[str, Any] | None) -> dict[str, float | None]:
    """What the summary measures beyond metrics.json, from the run's own files."""
    out: dict[str, float | None] = {}
    seconds = [as_float(r.get("epoch_seconds")) for r in run.epochs]
    seconds = [s for s in seconds if s is not None]
    if seconds:
        out["seconds/epoch"] = float(np.mean(seconds))
    for key, name in (("train_seconds", "train/seconds"), ("n_params", "params")):
        if as_float(run.run.get(key)) is not None:
            out[name] = as_float(run.run.get(key))
    data = gradnorms.read(run.run_dir)
    if data is not None:
        out["grads/first_over_last"] = gradnorms.first_over_last(gradnorms.depth_profile(data)[1])
    if not lesson:
        return out
    for check in lesson.get("checks", []):
        metric = str(check.get("metric", ""))
        if "@" in metric:  # a per-epoch metric at one epoch: val/accuracy@1
            key, epoch = metric.split("@", 1)
            xs, ys = run.series(key)
            at = [float(y) for x, y in zip(xs, ys) if float(x) == float(epoch)]
            out[metric] = at[0] if at else None
    if lesson.get("reach_metric") and lesson.get("reach_value") is not None:
        key, target = lesson["reach_metric"], float(lesson["reach_value"])
        up = higher_is_better(key)
        hit = next((r for r in run.epochs if as_float(r.get(key)) is not None
                    and (as_float(r[key]) >= target if up else as_float(r[key]) <= target)), None)
        out["reach/epochs"] = as_float(hit.get("epoch")) if hit else None
        out["reach/seconds"] = as_float(hit.get("time")) if hit else None
    return out


def judge(variants: dict[str, dict[str, Any]], lesson: dict[str, Any]) -> dict[str, Any]:
    """The checks' numbers and results, and the claim's verdict."""
    checks = []
    for check in lesson.get("checks", []):
        metric = check["metric"]
        higher = check.get("higher")
        higher = higher_is_better(metric) if higher is None else bool(higher)
        ours = variants.get(check["variant"], {}).get(metric, {})
        theirs = variants.get(check["against"], {}).get(metric, {})
        result = welch(theirs.get("values", []), ours.get("values", []))  # ours - theirs
        n = min(ours.get("n", 0), theirs.get("n", 0))
        said = verdict(result, higher, n)
        checks.append({**check, "higher": higher, "n": n, "mean": ours.get("mean"),
                       "against_mean": theirs.get("mean"), "diff": result["diff"],
                       "ci95": result["ci95"], "verdict": said,
                       "result": RESULT.get(said, "not distinguishable from seed noise"
                                            if result["ci95"] is not None else "not measurable")})
    results = [c["result"] for c in checks]
    n = min((c["n"] for c in checks), default=0)
    if results and all(r == "supported" for r in results):
        overall = "supported"
    elif "supported" in results:
        overall = "partly supported"
    elif "contradicted" in results:
        overall = "contradicted"
    else:
        overall = f"not supported: no difference beyond seed noise at n={n}"
    return {"claim": lesson.get("claim", ""), "verdict": overall, "checks": checks,
            "caveats": lesson.get("caveats", ""),
            **{k: lesson.get(k) for k in ("reach_metric", "reach_value", "axis", "axis_log")}}


def sentence(check: dict[str, Any]) -> str:
    """'adam vs sgd on val/accuracy@1: +0.031 [+0.012, +0.050] (n=3): supported'."""
    if check.get("diff") is None:
        numbers = "no values"
    else:
        numbers = f"{check['diff']:+.4g}"
        if check.get("ci95"):
            numbers += f" [{check['ci95'][0]:+.4g}, {check['ci95'][1]:+.4g}]"
    return (f"{check['variant']} vs {check['against']} on {check['metric']}: {numbers} "
            f"(n={check.get('n', 0)}): {check['result']}")


def _axis_plot(summary: dict[str, Any], groups: dict[str, dict[str, RunData]], key: str,
               metric: str, log: bool) -> str | None:
    """The headline metric against the config value the variants vary (data.limit), mean ± 95% CI."""
    points = []
    for name, runs in groups.items():
        run = next(iter(runs.values()), None)
        if run is None:
            continue
        section, _, leaf = key.partition(".")
        x = as_float(run.setting(section, leaf)) if leaf else None
        stats = summary["variants"].get(name, {}).get(metric) or {}
        if x is None or stats.get("mean") is None:
            continue
        lo, hi = stats.get("ci95") or (stats["mean"], stats["mean"])
        points.append((x, stats["mean"], stats["mean"] - lo, hi - stats["mean"], name))
    if len(points) < 2:
        return None
    points.sort()
    fig = _figure((6.4, 3.8))
    ax = fig.subplots()
    xs, ys, lo, hi, names = zip(*points)
    ax.errorbar(xs, ys, yerr=[lo, hi], fmt="o-", capsize=4, color="#1f77b4")
    for x, y, name in zip(xs, ys, names):
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, -12), fontsize=8)
    if log:
        ax.set_xscale("log")
    ax.set(xlabel=key, ylabel=metric, title=f"{metric} against {key}: mean, 95% CI over seeds")
    ax.grid(alpha=0.3, which="both")
    return figure_uri(fig)


def _gradient_plot(groups: dict[str, dict[str, RunData]]) -> str | None:
    """Each variant's gradient norm by depth in the first epoch (geometric mean over seeds)."""
    fig = _figure((6.4, 3.8))
    ax = fig.subplots()
    drawn = 0
    for i, (name, runs) in enumerate(groups.items()):
        profiles = [p for p in (gradnorms.depth_profile(d)[1] for d in
                                (gradnorms.read(r.run_dir) for r in runs.values()) if d is not None)
                    if len(p)]
        if not profiles or len({len(p) for p in profiles}) != 1:
            continue
        logs = np.log10(np.clip(np.array(profiles), 1e-30, None))
        mean = 10 ** logs.mean(0)
        layer = np.arange(1, logs.shape[1] + 1)
        color = COLORS[i % len(COLORS)]
        ax.plot(layer, mean, "-", marker=MARKERS[i % len(MARKERS)], ms=4, color=color,
                label=f"{name} (n={len(profiles)})")
        if len(profiles) > 1:
            ax.fill_between(layer, 10 ** logs.min(0), 10 ** logs.max(0), color=color, alpha=0.15, lw=0)
        drawn += 1
    if not drawn:
        return None
    ax.set(yscale="log", xlabel="layer (1 = nearest the input)", ylabel="gradient L2 norm",
           title="gradient norm by depth, first epoch")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return figure_uri(fig)


def _reach_rows(summary: dict[str, Any], groups: dict[str, dict[str, RunData]]) -> list[list[Any]]:
    rows = []
    for name, stats in summary["variants"].items():
        total = len(groups.get(name, {}))
        epochs, secs = stats.get("reach/epochs") or {}, stats.get("reach/seconds") or {}
        hit = epochs.get("n", 0)
        if not hit:
            rows.append([name, f"never (0 of {total} seeds)", "–"])
            continue
        tail = "" if hit == total else f" ({hit} of {total} seeds; the others never)"
        rows.append([name, f"{epochs['mean']:.3g} ± {epochs.get('sd') or 0:.2g}{tail}",
                     f"{secs['mean']:.3g} ± {secs.get('sd') or 0:.2g}" if secs.get("n") else "–"])
    return rows


def section(summary: dict[str, Any], groups: dict[str, dict[str, RunData]]) -> str:
    """Claim, verdict, the checks with their numbers, then the lesson's own pictures."""
    judged = lesson = summary["lesson"]
    parts = [f'<p class="claim"><b>Claim:</b> {sections.esc(judged["claim"])}</p>',
             f'<p class="verdict"><b>Measured verdict:</b> {sections.esc(judged["verdict"])}</p>']
    rows = [[c["variant"], c["against"], c["metric"],
             "–" if c["mean"] is None else c["mean"], "–" if c["against_mean"] is None else c["against_mean"],
             "–" if c["diff"] is None else f"{c['diff']:+.4g}",
             "–" if not c["ci95"] else f"[{c['ci95'][0]:+.4g}, {c['ci95'][1]:+.4g}]",
             c["n"], c["result"]] for c in judged["checks"]]
    parts.append(sections.table(rows, ["variant", "against", "metric", "variant mean", "against mean",
                                       "difference", "95% CI (Welch)", "seeds", "result"]))
    if lesson.get("reach_metric"):
        parts.append(f"<h3>Epochs and seconds of training to {sections.esc(lesson['reach_metric'])} "
                     f"&ge; {sections.esc(lesson['reach_value'])}</h3>")
        parts.append(sections.table(_reach_rows(summary, groups), ["variant", "epochs", "seconds"]))
    if lesson.get("axis") and summary.get("metric"):
        uri = _axis_plot(summary, groups, lesson["axis"], summary["metric"], bool(lesson.get("axis_log")))
        if uri:
            parts.append(sections.figure(uri, f"{summary['metric']} against {lesson['axis']}"))
    uri = _gradient_plot(groups)
    if uri:
        parts.append(sections.figure(uri, "per-layer gradient norms in the first epoch, each "
                                     "variant's geometric mean over its seeds (band: min to max)"))
    if judged.get("caveats"):
        parts.append(sections.note(f"Caveats: {judged['caveats']}"))
    return sections.section("lesson", "Lesson", "\n".join(parts))
