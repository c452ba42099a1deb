"""The `gradkit` app, its error guard and what every command shares. Commands import torch and
the field libraries inside their bodies, so `gradkit --help` answers at once."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    name="gradkit",
    help="The classic deep-learning systems as named, fast, one-command recipes.\n\n"
         "Start with `gradkit recipes`, then `gradkit train digits-cnn`.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
)
console = Console()
T = TypeVar("T")


def fail(exc: Exception | str) -> None:
    """Print one clean error line and exit with status 2."""
    from rich.markup import escape  # "pip install 'gradkit[tune]'" is not a style tag

    console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def guard(fn: Callable[[], T]) -> T:
    """Run a command's body, turning gradkit's own errors into a clean message (no traceback)."""
    from gradkit.errors import GradkitError

    try:
        return fn()
    except GradkitError as exc:
        fail(exc)


def recipe_args(recipe: str | None, overrides: list[str] | None, config: Any = None,
                required: bool = True) -> tuple[str | None, list[str]]:
    """(recipe, KEY=VALUE overrides) as the commands that take a recipe read their arguments: a
    first argument holding '=' is an override (`gradkit train -c file.yaml lr=...`), and a
    recipe or a config file is required."""
    items = list(overrides or [])
    if recipe and "=" in recipe:
        items.insert(0, recipe)
        recipe = None
    if required and not recipe and not config:
        fail("name a recipe (`gradkit recipes` lists them) or pass -c FILE.yaml")
    return recipe, items


def print_metrics(metrics: dict, prefix: str, title: str | None = None) -> None:
    table = Table(title=title or f"{prefix} metrics")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        if key.startswith(prefix + "/") or key.startswith("baseline/"):
            if not key.endswith(("/seconds", "/train_rows")):
                table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    console.print(table)
