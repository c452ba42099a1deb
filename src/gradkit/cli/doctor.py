"""`gradkit doctor`: the installation, and a recipe's data set checked before training; `gradkit docs`:
where the built documentation site is."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gradkit.cli.app import app, console, fail, guard


@app.command()
def doctor(
    data_dir: Annotated[Optional[str], typer.Option(help="Extra folder to search.")] = None,
    check_data: Annotated[Optional[str], typer.Option(
        "--check-data", metavar="RECIPE_OR_CONFIG",
        help="Check this recipe's (or config file's) data set before training: splits, class "
             "balance, NaNs, train/test duplicates, image sizes, text lengths. Exit 1 on errors.")] = None,
    overrides: Annotated[Optional[list[str]], typer.Argument(
        help="KEY=VALUE overrides for --check-data, as for train.", show_default=False)] = None,
) -> None:
    """Versions, threads, device, and which data sets are found where (or --check-data one)."""
    if check_data is not None:
        from gradkit.doctor import check_command

        extra = [*(overrides or []), *([f"data.dir={data_dir}"] if data_dir else [])]
        raise typer.Exit(guard(lambda: check_command(check_data, extra, console)))
    if overrides:
        fail("KEY=VALUE overrides go with --check-data RECIPE")
    from gradkit.doctor import report_lines

    for line in report_lines(data_dir):
        console.print(line, highlight=False)


@app.command()
def docs(open_: Annotated[bool, typer.Option("--open", help="Also open it in the default web browser.")] = False,
         site: Annotated[Optional[Path], typer.Option(help="The built site's folder (default: site/ "
                                                      "in the gradkit checkout).")] = None) -> None:
    """Where the documentation site is, for offline reading (built by `make docs` into site/)."""
    root = Path(__file__).resolve().parents[3]  # the checkout an editable install runs from
    index = (site or root / "site") / "index.html"
    if not index.is_file():
        fail(f"the documentation site is not built ({index} is missing): run `make docs` in the "
             f"gradkit checkout, or read the pages as Markdown in its docs/ folder")
    console.print(index.as_uri(), highlight=False)
    if open_:
        import webbrowser

        if not webbrowser.open(index.as_uri()):
            fail(f"no web browser could be started here: open {index} yourself")
