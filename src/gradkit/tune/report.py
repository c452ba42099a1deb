"""The study's report.html: Optuna's own matplotlib plots, embedded as PNGs in one HTML file.

Optuna draws through pyplot and sets its ggplot style globally; each plot is drawn inside
`matplotlib.rc_context()` (the style is undone afterwards) and its figure closed once saved.
"""
from __future__ import annotations

import warnings
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any, Callable

from gradkit.report import sections as H
from gradkit.report.plots import figure_uri
from gradkit.rundir import atomic_write


def build_report(study_dir: Path, study, rows: list[dict[str, Any]], settings, dims, result) -> Path:
    """Write `study_dir/report.html` and return its path."""
    body = "\n".join([_header(settings, result, rows), _best(result, rows, settings),
                      _figures(study, settings, rows), _trials(rows, dims, study_dir),
                      _settings(settings)])
    template = resources.files("gradkit.report").joinpath("template.html").read_text("utf-8")
    title = H.esc(f"{settings.recipe or settings.config_file} · gradkit tuning study")
    path = study_dir / "report.html"
    atomic_write(path, Template(template).substitute(title=title, body=body))
    return path


def _header(s, result, rows) -> str:
    counts = " · ".join(f"{n} {state}" for state, n in result.counts.items() if n)
    return (f"<header><h1>{H.esc(s.recipe or s.config_file)}: tuning study</h1>"
            f'<p class="meta">{len(rows)} trials ({H.esc(counts)}) · {H.esc(s.direction)} '
            f"<code>{H.esc(s.score_name())}</code> · <code>{H.esc(result.dir)}</code></p></header>")


def _best(result, rows, s) -> str:
    if result.best_trial is None:
        return H.section("best", "Best trial", H.note("No trial completed yet."))
    row = next(r for r in rows if r["number"] == result.best_trial)
    table = H.table([[k, v if isinstance(v, (int, float)) else str(v)]
                     for k, v in result.best_values.items()], ["key", "value"])
    link = row["run_dir"] + ("/report.html" if (result.dir / row["run_dir"] / "report.html").is_file()
                             else "")
    body = (f'<div class="cards"><div class="card"><div class="value">{H.esc(f"{result.best_value:.4g}")}'
            f'</div><div class="label">{H.esc(s.score_name())}, trial {result.best_trial}</div></div></div>'
            f"{table}{_seed_values(row)}<p>Train it: <code>gradkit train -c {H.esc(result.best_yaml)}</code> · "
            f'its run: <a href="{H.esc(link)}">{H.esc(row["run_dir"])}</a></p>')
    return H.section("best", "Best trial", body)


def _seed_values(row) -> str:
    """The best trial's value on each seed (with --seeds), the never-solved ones marked."""
    if "seed_values" not in row:
        return ""
    unsolved = set(row["unsolved_seeds"])
    cells = [[f"seed {k}", f"{v:.4g}" + (" (never solved: its budget)" if int(k) in unsolved else "")]
             for k, v in row["seed_values"].items()]
    return H.table(cells, ["seed", "value"])


def _figures(study, s, rows) -> str:
    from optuna.visualization import matplotlib as V

    complete = sum(r["state"] == "complete" for r in rows)
    plots: list[tuple[str, Callable[[], Any], str | None]] = [
        ("Optimisation history: each trial's score and the best so far",
         lambda: V.plot_optimization_history(study, target_name=s.score_name()),
         None if complete else "no completed trial"),
        (f"Learning curves: {s.metric} per epoch of each trial (pruned trials stop early)",
         lambda: _labels(V.plot_intermediate_values(study), "epoch", s.metric),
         None if any(r["intermediate"] for r in rows) else "no trial reported per-epoch values"),
        ("Parallel coordinates: each completed trial's values and score",
         lambda: V.plot_parallel_coordinate(study, target_name=s.score_name()),
         None if complete else "no completed trial"),
        ("Parameter importances (how much each key's value explains the score)",
         lambda: V.plot_param_importances(study, target_name=s.score_name()),
         _importance_missing(rows, complete)),
    ]
    parts = []
    for caption, draw, missing in plots:
        if missing:
            parts.append(H.note(f"{caption.split(':')[0].split(' (')[0]}: not shown, {missing}."))
            continue
        try:
            parts.append(H.figure(_draw(draw), caption))
        except Exception as exc:  # noqa: BLE001 (one plot's problem must not lose the others)
            parts.append(H.note(f"{caption.split(':')[0]}: not drawn ({type(exc).__name__}: {exc})."))
    return H.section("plots", "Search", '<div class="grid">' + "".join(parts) + "</div>")


def _labels(ax, x: str, y: str):
    ax.set(xlabel=x, ylabel=y)
    return ax


def _importance_missing(rows, complete: int) -> str | None:
    if complete < 2:
        return "importances need two or more completed trials"
    finished = [r["values"] for r in rows if r["state"] == "complete"]
    varied = {k for k in finished[0] if len({repr(v.get(k)) for v in finished}) > 1}
    return None if varied else "no key took two different values in the completed trials"


def _draw(draw: Callable[[], Any]) -> str:
    import matplotlib
    import matplotlib.pyplot as plt

    with matplotlib.rc_context(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna's ExperimentalWarning on its matplotlib plots
        axes = draw()
        fig = getattr(axes, "figure", None) or axes.flat[0].figure
        fig.set_size_inches(6.4, 4.2)
        try:
            return figure_uri(fig)
        finally:
            plt.close(fig)


def _trials(rows, dims, study_dir: Path) -> str:
    seeds = any("seed_values" in r for r in rows)
    head = ["trial", "state", "score", *[d.key for d in dims], "seeds" if seeds else "epochs",
            "seconds", "run"]
    table = []
    for r in rows:
        state = r["state"] + (" (interrupted)" if r["interrupted"] else "")
        run = r["run_dir"] or ""
        if run and (study_dir / run / "report.html").is_file():
            run = f"{run}/report.html"
        values = [v if isinstance(v, (int, float)) else str(v) for v in
                  (r["values"].get(d.key) for d in dims)]
        seconds = None if r["seconds"] is None else round(r["seconds"], 1)
        table.append([r["number"], state, r["value"], *values,
                      _spread(r) if seeds else r["epochs"], seconds,
                      run if not r["error"] else f"{run} · {r['error']}"])
    return H.section("trials", "Trials", H.table(table, head))


def _spread(row) -> str:
    """A trial's seeds in one cell: 'min to max', and how many never solved."""
    values = list(row.get("seed_values", {}).values())
    if not values:
        return ""
    text = f"{len(values)}: {min(values):.4g} to {max(values):.4g}"
    return text + (f", {len(row['unsolved_seeds'])} unsolved" if row["unsolved_seeds"] else "")


def _settings(s) -> str:
    rows = [["recipe", s.recipe], ["config file", s.config_file],
            ["overrides", " ".join(s.overrides)], ["space", " · ".join(s.space)],
            ["metric", f"{s.direction} {s.metric}"],
            ["pruner", s.pruner + (f" (from trial {s.startup_trials}, epoch {s.prune_after + 1})"
                                   if s.pruner == "median" else "")],
            ["seed", s.seed if not s.seeds else f"each trial: seeds {', '.join(map(str, s.seeds))}, "
                                                 f"scored by their {s.aggregate}"]]
    return H.section("settings", "Settings", H.table([r for r in rows if r[1] not in (None, "")]))
