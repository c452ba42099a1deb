"""A run as a notebook shows it (`Run._repr_html_`): its headline figures against the
baselines, a small table of its final metrics, the first learning-curve panels, and a link to
the full report. Read from the run directory's files, like the report."""
from __future__ import annotations

from pathlib import Path

from gradkit.report import plots
from gradkit.report.rundir import load_run
from gradkit.report.sections import esc, headlines, table

CARD_STYLE = ("<style>.gk-run .cards{display:flex;flex-wrap:wrap;gap:8px}.gk-run .card{border:1px "
              "solid #ddd;border-radius:6px;padding:6px 10px}.gk-run .value{font-size:1.3em;"
              "font-weight:600}.gk-run .label{color:#555}.gk-run ul.vs{margin:2px 0 0 0;padding-left:"
              "16px;font-size:.85em}.gk-run .good{color:#1a7f37}.gk-run .bad{color:#b42318}"
              ".gk-run img{max-width:360px}</style>")
PANELS = 2  # learning-curve panels shown inline; the report has them all


def run_html(run_dir: str | Path) -> str:
    """The notebook view of a finished run directory."""
    run = load_run(run_dir)
    name = run.config.get("name") or run.run_dir.name
    status = run.run.get("status", "unknown")
    finals = [[k, f"{v:.4g}" if isinstance(v, float) else v] for k, v in run.metrics.items()
              if k.split("/")[0] in ("test", "val", "eval") and isinstance(v, (int, float))][:12]
    curves = "".join(f'<img alt="{esc(title)}" src="{uri}">'
                     for title, uri in plots.learning_curves(run)[:PANELS])
    report = run.run_dir / "report.html"
    link = (f'<a href="{esc(report.resolve().as_uri())}" target="_blank">report.html</a>'
            if report.is_file() else "no report.html (output.report=false)")
    return (f'{CARD_STYLE}<div class="gk-run"><b>{esc(name)}</b> · {esc(status)} · '
            f"<code>{esc(run.run_dir)}</code> · {link}{headlines(run)}"
            f"{table(finals, ['metric', 'value']) if finals else ''}<div>{curves}</div></div>")
