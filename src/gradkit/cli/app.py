"""The `gradkit` app, its error guard and what every command shares. Commands import torch and
the field libraries inside their bodies, so `gradkit --help` answers at once."""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click
import typer
from rich.console import Console
from rich.table import Table

class Guarded(typer.Typer):
    """A Typer whose every command and callback runs inside `guard`: one rule for the whole CLI,
    so no command can print a traceback for a user's mistake or a damaged file. Help texts are
    plain text, not Rich markup: `model.hidden=[256,128]` keeps its brackets."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("rich_markup_mode", None)
        super().__init__(*args, **kwargs)

    def command(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., T]], Callable[..., T]]:
        register = super().command(*args, **kwargs)
        return lambda fn: register(_guarded(fn))

    def callback(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., T]], Callable[..., T]]:
        register = super().callback(*args, **kwargs)
        return lambda fn: register(_guarded(fn))


def _guarded(fn: Callable[..., T]) -> Callable[..., T]:
    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> T:
        return guard(lambda: fn(*args, **kwargs))

    return run


app = Guarded(
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
    """Run a command's body, turning errors into one clean line (no traceback): gradkit's own
    errors (exit 2); a file the system refuses (permissions, a full disk, a path that is not a
    folder: exit 2, naming the file and the fix); Ctrl-C (exit 130, after the run said where it
    stands). Anything else is a bug in gradkit: one line and exit 1, with the traceback when
    GRADKIT_DEBUG=1."""
    import os

    from gradkit.errors import GradkitError

    try:
        return fn()
    except (typer.Exit, typer.Abort, click.exceptions.Exit, click.exceptions.Abort,
            click.exceptions.ClickException, SystemExit):
        raise
    except GradkitError as exc:
        fail(exc)
    except OSError as exc:
        fail(_os_message(exc))
    except KeyboardInterrupt:
        console.print("[bold]interrupted[/]", highlight=False)
        raise typer.Exit(130) from None
    except Exception as exc:
        if os.environ.get("GRADKIT_DEBUG"):
            raise
        from rich.markup import escape

        console.print(f"[bold red]error:[/] {escape(type(exc).__name__)}: {escape(str(exc))}\n"
                      "  This is a bug in gradkit, not in your input: rerun with GRADKIT_DEBUG=1 for "
                      "the traceback and report it.", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


def _os_message(exc: OSError) -> str:
    """'cannot write runs/x/run.json: Permission denied; ...' with the fix for its cause."""
    import errno

    what = exc.filename or "a file"
    reason = exc.strerror or str(exc)
    fix = {errno.EACCES: "check its permissions, or choose another --out",
           errno.EPERM: "check its permissions, or choose another --out",
           errno.EROFS: "the file system is read-only: choose another --out",
           errno.ENOSPC: "free some disk space (or choose another --out), then try again",
           errno.ENOENT: "check the path",
           errno.ENOTDIR: "a part of the path is a file, not a folder: check the path",
           errno.EISDIR: "it is a folder where a file belongs: check the path"}.get(
        exc.errno, "check the path and its permissions")
    return f"{what}: {reason}; {fix}"


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
