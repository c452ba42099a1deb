"""The runs on disk: `gradkit report` (re)builds a report, `gradkit runs` lists and compares runs.
Both read files only (no torch)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from gradkit.cli.app import Guarded, app, console, fail, guard

runs_app = Guarded(help="List runs and compare them.", invoke_without_command=True)
app.add_typer(runs_app, name="runs")


@app.command()
def report(run_dir: Annotated[Path, typer.Argument(help="A run directory.")]) -> None:
    """(Re)build RUN_DIR/report.html (a recipe's variants: their comparison report)."""
    from gradkit.report import build_report
    from gradkit.report.compare import build_comparison

    build = build_comparison if (run_dir / "comparison.json").is_file() else build_report
    try:
        path = build(run_dir)
    except FileNotFoundError as exc:
        fail(exc)
    console.print(f"report: [bold]{path}[/]")


@runs_app.callback()
def runs(ctx: typer.Context,
         root: Annotated[Path, typer.Option(help="Where runs live.")] = Path("runs")) -> None:
    """Table of runs with their key metrics (newest first)."""
    if ctx.invoked_subcommand is not None:
        return
    from gradkit.listing import list_runs

    table = Table(title=f"runs under {root}")
    rows = list_runs(root, seeds=True)
    rl = any(row.get("eval/best_mean_return") for row in rows)  # RL runs: steps and returns
    columns = {"run": "run", "status": "status", "epochs": "epochs / steps" if rl else "epochs",
               "test/accuracy": "test/accuracy", "test/f1_macro": "test/f1_macro",
               "test/rmse": "test/rmse", **({"eval/best_mean_return": "best return"} if rl else {}),
               "seconds": "seconds"}
    for title in columns.values():
        table.add_column(title)
    for row in rows:
        table.add_row(*[escape(row.get(key, "")) for key in columns])
    console.print(table)


@runs_app.command("compare")
def runs_compare(run_dirs: Annotated[list[Path], typer.Argument(
        help="Run directories, or parents of runs over seeds (a column per variant, mean ± sd).")]) -> None:
    """Side-by-side config differences and metrics of runs."""
    from gradkit.listing import compare_runs

    names, diff, metrics = guard(lambda: compare_runs(run_dirs))
    for title, rows in (("config differences", diff), ("metrics", metrics)):
        table = Table(title=title)
        table.add_column("key")
        for name in names:
            table.add_column(escape(name))  # "parent [variant]" is not rich markup
        for key, values in rows:
            table.add_row(key, *values)
        console.print(table)
