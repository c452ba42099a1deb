"""`gradkit doctor`: the installation, and a recipe's data set checked before training."""
from __future__ import annotations

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
