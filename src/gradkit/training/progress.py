"""Progress: a rich bar on a terminal, an updating HTML bar in a Jupyter notebook, one line per
epoch elsewhere (logs, CI), nothing when quiet."""
from __future__ import annotations

import sys
import time
from typing import Any

NOTEBOOK_REFRESH = 0.25  # seconds between a notebook bar's redraws (each is a message to the page)


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (where stdout is no terminal, but a page is)."""
    shell = sys.modules.get("IPython")
    get = getattr(shell, "get_ipython", None)
    return get is not None and type(get()).__name__ == "ZMQInteractiveShell"


class NotebookBar:
    """One HTML progress bar, redrawn in place through IPython's display handle."""

    def __init__(self) -> None:
        from IPython.display import HTML, display

        self._html = HTML
        self._handle = display(HTML(""), display_id=True)
        self._last = 0.0

    def show(self, desc: str, step: int, total: int, info: str, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self._last < NOTEBOOK_REFRESH:
            return
        self._last = now
        self._handle.update(self._html(
            f"<progress value='{step}' max='{max(total, 1)}' style='width:40%'></progress> "
            f"<code>{desc} {step}/{total} {info}</code>"))


def fmt(metrics: dict[str, Any], keys: tuple[str, ...] = ()) -> str:
    items = [(k, v) for k, v in metrics.items() if isinstance(v, float) and (not keys or k in keys)]
    return "  ".join(f"{k} {v:.4g}" for k, v in items)


class Progress:
    def __init__(self, epochs: int, steps: int, verbose: bool) -> None:
        self.verbose = verbose
        self.live = verbose and sys.stdout.isatty()
        self.epochs, self.steps = epochs, steps
        self._bar = None
        self._page = NotebookBar() if verbose and not self.live and in_notebook() else None
        self._desc = ""
        if self.live:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn,
                                       TimeRemainingColumn)

            self._bar = Bar(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[info]}"), TimeRemainingColumn(), transient=False)
            self._bar.start()
            self._task = None

    def start_epoch(self, epoch: int) -> None:
        self._desc = f"epoch {epoch}/{self.epochs}"
        if self._page is not None:
            self._page.show(self._desc, 0, self.steps, "", force=True)
        if self._bar is not None:
            desc = f"epoch {epoch}/{self.epochs}"
            if self._task is None:
                self._task = self._bar.add_task(desc, total=self.steps, info="")
            else:
                self._bar.reset(self._task, total=self.steps, description=desc, info="")

    def update(self, step: int, info: str) -> None:
        if self._page is not None:
            self._page.show(self._desc, step, self.steps, info, force=step == self.steps)
        if self._bar is not None:
            self._bar.update(self._task, completed=step, info=info)

    def end_epoch(self, record: dict[str, Any]) -> None:
        if not self.verbose:
            return
        line = (f"epoch {record['epoch']}/{self.epochs}  "
                f"{fmt(record, ('train/loss', 'train/accuracy', 'val/loss', 'val/accuracy', 'val/rmse', 'val/r2'))}"
                f"  {record['samples_per_s']:.0f} samples/s")
        if self._bar is not None:
            self._bar.console.print(line)
        else:
            print(line, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
