"""HTML for the task-independent report sections, plus the small HTML helpers.

Every string that comes from a run (names, config text, errors) passes through
`html.escape`: a class called "<b>" must print, not render.
"""
from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from gradkit.registry import Registry
from gradkit.report import plots
from gradkit.report.diagnostics import Finding
from gradkit.report.rundir import RunData, as_float, fmt_num

# The "Results" section of each task's runs (run.json's spec.task; "rl" for RL runs), registered
# beside the code that renders it with `@results(task, ...)`; a task without one has none.
RESULTS: Registry[Callable[[RunData], str]] = Registry("report results section")


def results(*tasks: str) -> Callable:
    """Decorator: `@results("reconstruct", "vae", "gan")` on a `(RunData) -> html` renderer."""

    def decorator(render: Callable[[RunData], str]) -> Callable[[RunData], str]:
        for task in tasks:
            RESULTS.register(task, render)
        return render

    return decorator

BASELINE_NAMES = {
    "majority": "majority-class baseline",
    "logreg": "logistic regression",
    "tfidf-logreg": "TF-IDF + logistic regression",
    "mean": "predict-the-mean baseline",
    "linear": "linear regression",
    "persistence": "persistence (last value)",
    "seasonal-naive": "seasonal-naive",
    "unigram": "unigram character model",
    "bigram": "bigram character model",
}
LOWER_IS_BETTER = ("loss", "mse", "mae", "rmse", "mase", "seconds", "perplexity", "bits_per_char",
                   "nelbo")
HEADLINE_FIRST = ("accuracy", "r2", "f1_macro", "mase", "rmse", "bits_per_char", "perplexity",
                  "nelbo", "mse")


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}">\n<h2>{esc(title)}</h2>\n{body}\n</section>'


def note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


def figure(uri: str, caption: str) -> str:
    return (f'<figure><img src="{uri}" alt="{esc(caption)}">'
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def table(rows: list[list[Any]], head: list[str] | None = None, row_classes=None) -> str:
    """An HTML table; cells are escaped, numbers formatted with `fmt_num`."""
    def cell(v: Any) -> str:
        return esc(fmt_num(v)) if isinstance(v, (int, float)) or v is None else esc(v)

    parts = ["<table>"]
    if head:
        parts.append("<thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in head) + "</tr></thead>")
    parts.append("<tbody>")
    for i, row in enumerate(rows):
        cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        parts.append(f"<tr{cls}>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>")
    parts.append("</tbody></table>")
    return "".join(parts)


def header(run: RunData, cards: str | None = None) -> str:
    """Title block: name, description, status, date and the headline metrics (`cards`: the run
    kind's own, e.g. an RL run's returns; default: the test metrics against the baselines)."""
    name = run.config.get("name") or run.run.get("name") or run.run_dir.name
    status = str(run.run.get("status") or "unknown")
    date = _date(run.run.get("started"))
    parts = [f"<header><h1>{esc(name)}</h1>"]
    if run.config.get("description"):
        parts.append(f'<p class="description">{esc(run.config["description"])}</p>')
    parts.append(f'<p class="meta"><span class="status status-{esc(status)}">{esc(status)}</span>'
                 f" {esc(date)} · <code>{esc(run.run_dir.name)}</code></p>")
    parts.extend(note(text) for text in run.notes)
    parts.append(headlines(run) if cards is None else cards)
    return "\n".join(parts) + "</header>"


def _date(started: Any) -> str:
    try:
        return datetime.fromisoformat(str(started)).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return str(started) if started else "date unknown"


def headlines(run: RunData) -> str:
    tests = [(k, as_float(v)) for k, v in run.metrics.items() if k.startswith("test/")]
    tests = [(k, v) for k, v in tests if v is not None]
    if not tests:
        return note("No final test metrics: the run did not reach its test evaluation.")
    rank = {name: i for i, name in enumerate(HEADLINE_FIRST)}
    tests.sort(key=lambda kv: rank.get(kv[0].split("/", 1)[1], len(rank)))
    return '<div class="cards">' + "".join(_card(run, k, v) for k, v in tests) + "</div>"


def _card(run: RunData, key: str, value: float) -> str:
    """One metric with each baseline: '0.912 vs 0.100 majority-class baseline, +0.812'."""
    metric = key.split("/", 1)[1]
    lower_better = metric.endswith(LOWER_IS_BETTER)
    lines = []
    for other, base in run.metrics.items():
        parts = other.split("/")
        if len(parts) != 3 or parts[0] != "baseline" or parts[2] != metric:
            continue
        base = as_float(base)
        if base is None:
            continue
        delta = value - base
        good = delta < 0 if lower_better else delta > 0
        label = BASELINE_NAMES.get(parts[1], f"{parts[1]} baseline")
        lines.append(f'<li class="{"good" if good else "bad"}">{esc(fmt_num(value))} vs '
                     f"{esc(fmt_num(base))} {esc(label)}, {delta:+.3f}</li>")
    compare = f'<ul class="vs">{"".join(lines)}</ul>' if lines else ""
    return (f'<div class="card"><div class="value">{esc(fmt_num(value))}</div>'
            f'<div class="label">{esc(key)}</div>{compare}</div>')


def summary(run: RunData) -> str:
    """The 'what ran, how long, on what' table, then every final metric."""
    r = run.run
    # a federated run counts rounds of its global model, not epochs (gradkit/federated)
    fed = run.config.get("federated") if isinstance(run.config.get("federated"), dict) else None
    unit = "round" if fed else "epoch"
    configured = fed.get("rounds") if fed else run.setting("train", "epochs")
    epochs = r.get("epochs_completed", len(run.epochs))
    best = r.get("best_epoch")
    monitor = r.get("monitor") or run.setting("train", "monitor")
    samples = r.get("samples") if isinstance(r.get("samples"), dict) else {}
    lr = run.setting("optim", "lr")
    rows = [
        ["Task", run.task or None],
        ["Data set", run.setting("data", "name")],
        ["Model", run.setting("model", "name")],
        ["Parameters", r.get("n_params")],
        ["Pretrained weights", r.get("weights_source")],  # model.name=pretrained: their source
        ["Optimizer", _join(run.setting("optim", "name"), f"lr {fmt_num(lr)}" if lr else None)],
        ["Batch size", run.setting("train", "batch_size")],
        [f"{unit.capitalize()}s completed / configured", f"{epochs} / {configured if configured else '?'}"],
        [f"Best {unit}", _join(best, f"{monitor} = {fmt_num(as_float(r.get('best_value')))}"
                             if best is not None and monitor else None)],
        ["Train time", _duration(as_float(r.get("train_seconds")))],
        ["Device", r.get("device") or run.env.get("device")],
        ["Samples", " · ".join(f"{k} {fmt_num(v)}" for k, v in samples.items()) or None],
        ["Seed", run.config.get("seed")],
        ["Stop reason", r.get("stop_reason")],
        ["Error", r.get("error")],
        ["Tracked in", _tracking(r.get("tracking"))],
    ]
    body = table([row for row in rows if row[1] not in (None, "")])
    finals = [[k, v if isinstance(v, int) and not isinstance(v, bool) else  # counts stay whole
               as_float(v) if as_float(v) is not None else v] for k, v in run.metrics.items()]
    if finals:
        body += "\n<h3>Final metrics</h3>\n" + table(finals, ["metric", "value"])
    return section("summary", "Summary", body)


def _tracking(tracking: Any) -> str | None:
    """output.track's trackers and how to open each (run.json's `tracking`, gradkit.track)."""
    if not isinstance(tracking, dict) or not tracking:
        return None
    return " · ".join(f"{name}: {info.get('show', '')}" if isinstance(info, dict) else str(name)
                      for name, info in tracking.items())


def _join(*parts: Any) -> str | None:
    text = " · ".join(str(p) for p in parts if p not in (None, ""))
    return text or None


def _duration(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min {secs} s"


def diagnostics(findings: list[Finding]) -> str:
    """Bulleted findings; `backticks` become <code> so overrides can be copied."""
    if not findings:
        return section("diagnostics", "Diagnostics", '<p class="ok">No problems detected.</p>')
    items = []
    for f in findings:
        text = re.sub(r"`([^`]+)`", r"<code>\1</code>", esc(f.text))
        items.append(f'<li class="{esc(f.level)}" data-code="{esc(f.code)}">{text}</li>')
    return section("diagnostics", "Diagnostics", '<ul class="findings">' + "".join(items) + "</ul>")


def learning_curves(run: RunData) -> str:
    if not run.epochs:
        return section("curves", "Learning curves", note("No per-epoch metrics were recorded."))
    panels = plots.learning_curves(run)
    if not panels:
        return section("curves", "Learning curves", note("metrics.jsonl has no plottable keys."))
    body = '<div class="grid">' + "".join(figure(uri, title) for title, uri in panels) + "</div>"
    if len(run.epochs) == 1:
        body = note("Only one epoch was recorded, so each curve is a single point.") + body
    return section("curves", "Learning curves", body)


def configuration(run: RunData) -> str:
    """The resolved config verbatim, then the environment record."""
    body = f"<h3>Resolved configuration</h3>\n<pre>{esc(run.config_text)}</pre>"
    env_rows = [[k, v if isinstance(v, (int, float)) else str(v)] for k, v in run.env.items()]
    body += "\n<h3>Environment</h3>\n"
    body += table(env_rows, ["key", "value"]) if env_rows else note("No env.json was recorded.")
    return section("config", "Configuration and environment", body)
