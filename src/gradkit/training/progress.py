"""Progress: a rich bar on a terminal, one line per epoch elsewhere, nothing when quiet."""
from __future__ import annotations

import sys
from typing import Any


def fmt(metrics: dict[str, Any], keys: tuple[str, ...] = ()) -> str:
    items = [(k, v) for k, v in metrics.items() if isinstance(v, float) and (not keys or k in keys)]
    return "  ".join(f"{k} {v:.4g}" for k, v in items)


class Progress:
    def __init__(self, epochs: int, steps: int, verbose: bool) -> None:
        self.verbose = verbose
        self.live = verbose and sys.stdout.isatty()
        self.epochs, self.steps = epochs, steps
        self._bar = None
        if self.live:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn,
                                       TimeRemainingColumn)

            self._bar = Bar(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[info]}"), TimeRemainingColumn(), transient=False)
            self._bar.start()
            self._task = None

    def start_epoch(self, epoch: int) -> None:
        if self._bar is not None:
            desc = f"epoch {epoch}/{self.epochs}"
            if self._task is None:
                self._task = self._bar.add_task(desc, total=self.steps, info="")
            else:
                self._bar.reset(self._task, total=self.steps, description=desc, info="")

    def update(self, step: int, info: str) -> None:
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
