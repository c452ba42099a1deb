"""The comparison report of a recipe's variants, or of its seeds (report/seeds.py):
`build_comparison(parent) -> parent/report.html`.

Reads only files: the parent's comparison.json (the variants, in order) and each variant's
run directory, through `load_run`, like the single-run report. One panel overlays every
variant's validation curve of the headline metric with each baseline as a horizontal line
(for `adding-rnn-vs-lstm`: val MSE of the RNN and the LSTM against predict-the-mean's 1/6);
a second overlays the training loss; a table gives each variant's test figures and time.
"""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from string import Template

import numpy as np

from gradkit.report import seeds, sections
from gradkit.report.build import _footer, _write_atomic
from gradkit.report.plots import _figure, _log_scale, figure_uri
from gradkit.report.rundir import RunData, as_float, load_run

# The curve to compare, first found in every variant's validation records.
CURVE_METRICS = ("mse", "accuracy", "mase", "bits_per_char", "loss")
COLORS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
BASELINE_STYLES = ("--", ":", "-.")


def build_comparison(parent: str | Path) -> Path:
    """Write `parent/report.html` comparing the variant runs listed in `comparison.json`.

    Raises:
        FileNotFoundError: `parent` has no comparison.json (it is not a variants parent).
    """
    parent = Path(parent)
    path = parent / "comparison.json"
    if not path.is_file():
        raise FileNotFoundError(f"comparison.json not found in {parent}: not a recipe's variants")
    info = json.loads(path.read_text(encoding="utf-8"))
    if info.get("cells"):  # several seeds: every (variant, seed) a run
        groups = seeds.cells(parent)
        firsts = {name: next(iter(g.values())) for name, g in groups.items() if g}
        body = "\n".join([_header(info, firsts, parent), seeds.section(parent, groups),
                          _cells(info), _footer()])
    else:
        runs = {name: load_run(parent / sub) for name, sub in info.get("variants", {}).items()
                if (parent / sub / "config.yaml").is_file()}
        metric = curve_metric(runs)
        body = "\n".join([_header(info, runs, parent), _curves(runs, metric),
                          _results(runs, metric), _footer()])
    _write_atomic(parent / "report.html", _page(info, body, parent))
    return parent / "report.html"


def _cells(info: dict) -> str:
    """Links to every cell's own report."""
    rows = [[name, seed, f'<a href="{sections.esc(sub)}/report.html">{sections.esc(sub)}</a>']
            for name, by_seed in info.get("cells", {}).items() for seed, sub in by_seed.items()]
    table = sections.table([[n, s, "@@"] for n, s, _ in rows], ["variant", "seed", "run"])
    for _, _, link in rows:  # the links are HTML, the table escapes: put them in afterwards
        table = table.replace("@@", link, 1)
    return sections.section("runs", "Runs", table)


def _page(info: dict, body: str, parent: Path) -> str:
    template = resources.files("gradkit.report").joinpath("template.html").read_text("utf-8")
    title = sections.esc(f"{info.get('name') or parent.name} · gradkit comparison")
    return Template(template).substitute(title=title, body=body)


def curve_metric(runs: dict[str, RunData]) -> str | None:
    """The first of CURVE_METRICS every variant logged as `val/<metric>`."""
    for name in CURVE_METRICS:
        if runs and all(len(run.series(f"val/{name}")[0]) for run in runs.values()):
            return name
    return None


def baselines(runs: dict[str, RunData], metric: str) -> dict[str, float]:
    """`baseline/<name>/<metric>` figures, from the first variant that has each."""
    out: dict[str, float] = {}
    for run in runs.values():
        for key, value in run.metrics.items():
            parts = key.split("/")
            if len(parts) == 3 and parts[0] == "baseline" and parts[2] == metric:
                if as_float(value) is not None:
                    out.setdefault(parts[1], float(value))
    return out


def _header(info: dict, runs: dict[str, RunData], parent: Path) -> str:
    status = str(info.get("status") or "unknown")
    parts = [f"<header><h1>{sections.esc(info.get('name') or parent.name)}</h1>"]
    if info.get("description"):
        parts.append(f'<p class="description">{sections.esc(info["description"])}</p>')
    names = ", ".join(info.get("variants", {}))
    parts.append(f'<p class="meta"><span class="status status-{sections.esc(status)}">'
                 f"{sections.esc(status)}</span> variants: {sections.esc(names)} · "
                 f"<code>{sections.esc(parent.name)}</code></p>")
    missing = [n for n in info.get("variants", {}) if n not in runs]
    if missing:
        parts.append(sections.note(f"No run directory yet for: {', '.join(missing)}."))
    notes = next((run.run.get("data_notes") for run in runs.values() if run.run.get("data_notes")), [])
    parts.extend(sections.note(f"data: {text}") for text in notes or [])
    return "\n".join(parts) + "</header>"


def _curves(runs: dict[str, RunData], metric: str | None) -> str:
    if not runs or metric is None:
        return sections.section("curves", "Learning curves",
                                sections.note("No validation curve common to every variant."))
    figures = [sections.figure(_overlay(runs, f"val/{metric}", baselines(runs, metric)),
                               f"val {metric} per epoch, each variant, against the baselines")]
    if all(len(run.series("train/loss")[0]) for run in runs.values()):
        figures.append(sections.figure(_overlay(runs, "train/loss", {}), "training loss per epoch"))
    return sections.section("curves", "Learning curves",
                            '<div class="grid">' + "".join(figures) + "</div>")


def _overlay(runs: dict[str, RunData], key: str, lines: dict[str, float]) -> str:
    """Each variant's `key` per epoch, one colour each; each baseline a horizontal line."""
    fig = _figure((6.4, 4.0))
    ax = fig.subplots()
    values = []
    for i, (name, run) in enumerate(runs.items()):
        x, y = run.series(key)
        ax.plot(x, y, "o-", ms=3, lw=1.5, color=COLORS[i % len(COLORS)], label=name)
        values.append(y)
    for i, (name, value) in enumerate(lines.items()):
        label = sections.BASELINE_NAMES.get(name, f"{name} baseline")
        ax.axhline(value, ls=BASELINE_STYLES[i % len(BASELINE_STYLES)], lw=1.2, color="black",
                   label=f"{label} {value:.3g} (test)")
        values.append(np.array([value]))
    if _log_scale(np.concatenate(values)):
        ax.set_yscale("log")
    ax.set(xlabel="epoch", title=key)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return figure_uri(fig)


def _results(runs: dict[str, RunData], metric: str | None) -> str:
    """One row per variant: model, parameters, epochs, test figures, train time, its report."""
    tests = []
    for run in runs.values():
        tests += [k for k in run.metrics if k.startswith("test/") and k not in tests]
    rows, head = [], ["variant", "model", "parameters", "epochs (best)", *tests, "train time", "report"]
    for name, run in runs.items():
        r = run.run
        epochs = f"{r.get('epochs_completed', len(run.epochs))} ({r.get('best_epoch', '–')})"
        seconds = as_float(r.get("train_seconds"))
        rows.append([name, run.setting("model", "name"), r.get("n_params"), epochs,
                     *[as_float(run.metrics.get(k)) for k in tests],
                     None if seconds is None else f"{seconds:.1f} s", f"{name}/report.html"])
    body = sections.table(rows, head)
    base = baselines(runs, metric) if metric else {}
    if base:
        body += sections.table([[sections.BASELINE_NAMES.get(k, k), v] for k, v in base.items()],
                               ["baseline (test)", metric])
    return sections.section("results", "Results", body)
