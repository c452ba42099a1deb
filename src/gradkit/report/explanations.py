"""The report's "Explanations" section: what the attributions of a few test examples show.

It reads `artifacts/explanations/METHOD.json` and the figures beside it, written at the end of
a classification run (integrated gradients) or by `gradkit explain RUN_DIR --method ...`; each
method found gets its part, the default first. A run with `output.explain: false` and no
explanation files has no section; a missing or unreadable file shrinks it to a note.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gradkit.report.plots import png_uri
from gradkit.report.rundir import RunData, fmt_num
from gradkit.report.sections import esc, figure, note, section

FOLDER = "artifacts/explanations"
DEFAULT_FIRST = "integrated-gradients"
COLOURS = ("Green marks evidence for the predicted class, pink evidence against it; each "
           "example is scaled to its own largest attribution.")


def explanations(run: RunData) -> str:
    """The section's HTML, or '' for a run that opted out and has no explanations."""
    folder = run.run_dir / FOLDER
    paths = sorted(folder.glob("*.json"), key=lambda p: (p.stem != DEFAULT_FIRST, p.stem))
    if not paths:
        if run.setting("output", "explain") is False:
            return ""
        return section("explanations", "Explanations", note(
            "No explanations were written for this run (Captum missing: pip install "
            "'gradkit[explain]'; an error printed at the end of training; or a run from before "
            f"them). `gradkit explain {run.run_dir}` computes them and rebuilds this report."))
    parts = [_method(path, run) for path in paths]
    return section("explanations", "Explanations", "\n".join(parts))


def _method(path: Path, run: RunData) -> str:
    try:
        s = json.loads(path.read_text(encoding="utf-8"))
        return _part(s, path.parent, run)
    except (OSError, ValueError, KeyError, TypeError, IndexError) as err:
        return note(f"{FOLDER}/{path.name} could not be read ({type(err).__name__}: {err}).")


def _part(s: dict[str, Any], folder: Path, run: RunData) -> str:
    """One method: how it was computed, then its figures or highlighted texts."""
    from gradkit.report.attributions import completeness_line

    examples = list(s["examples"])
    wrong = sum(not e["correct"] for e in examples)
    steps = "".join(f"{s[k]} {k}; " for k in ("steps", "samples") if k in s)
    how = (f"Attributions of {s.get('target', 'the predicted class')} on {len(examples)} test "
           f"examples ({wrong} misclassified), baseline: {s.get('baseline')}; {steps}"
           f"computed in {fmt_num(s.get('seconds'))} s.")
    if s.get("signed"):
        how += " " + COLOURS
    how += " " + (completeness_line(examples) or "")
    body = [f"<h3>{esc(s['method'])} <small>({esc(s['captum'])})</small></h3>", note(how.strip())]
    figures = [_figure(folder, f) for f in s.get("figures", [])]
    if figures:
        body.append('<div class="grid">' + "".join(figures) + "</div>")
    if s.get("kind") == "text":
        body.append(_texts(examples, run, bool(s.get("signed"))))
    return f'<div class="explanation" id="explain-{esc(s["method"])}">' + "\n".join(body) + "</div>"


def _figure(folder: Path, entry: dict[str, Any]) -> str:
    path = folder / str(entry.get("file"))
    try:
        return figure(png_uri(path.read_bytes()), str(entry.get("caption", path.name)))
    except OSError as err:
        return note(f"{FOLDER}/{path.name} could not be read ({type(err).__name__}).")


def _texts(examples: list[dict[str, Any]], run: RunData, signed: bool) -> str:
    """One row per text: its tokens shaded by attribution, true and predicted class."""
    from gradkit.report.attributions import highlight_html

    names = run.class_names(int(run.spec.get("num_classes") or 0))

    def name(i: int) -> str:
        return names[i] if 0 <= i < len(names) else str(i)

    rows = []
    for e in examples:
        if not isinstance(e.get("tokens"), list):
            continue
        verdict = "right" if e["correct"] else "wrong"
        cells = [esc(name(e["y"])), esc(f"{name(e['pred'])} (p={e['prob']:.2f}, {verdict})")]
        # The highlighted text is HTML built from escaped tokens, so not escaped again.
        rows.append(f"<tr><td>{highlight_html(e['tokens'], e['scores'], signed)}</td>"
                    + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    if not rows:
        return note("No token attributions were recorded.")
    head = "".join(f"<th>{h}</th>" for h in ("text, shaded by attribution", "true", "predicted"))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
