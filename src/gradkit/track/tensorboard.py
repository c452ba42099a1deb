"""TensorBoard: event files in `<run>/tensorboard/`, so `tensorboard --logdir runs` shows every run.

Scalars under the run's metric keys; the resolved config as text (TEXT tab) and, when the run
ends, as hyperparameters beside its final metrics (HPARAMS tab: compare tuning trials).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from gradkit.track import scalar


class TensorBoard:
    def __init__(self, logdir: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.logdir = logdir
        self.writer = SummaryWriter(log_dir=str(logdir))
        self.params: dict[str, Any] = {}
        self.last: dict[str, float] = {}

    def log_params(self, params: dict[str, Any]) -> None:
        self.params = {k: scalar(v) for k, v in params.items()}
        # TensorBoard renders text as Markdown: an indented block keeps the table aligned.
        text = "\n".join(f"    {k}: {v}" for k, v in self.params.items())
        self.writer.add_text("config", text, 0)
        self.writer.flush()

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        for key, value in metrics.items():
            self.writer.add_scalar(key, value, step)
            self.last[key] = value
        self.writer.flush()  # a few small writes per epoch: keep the dashboard live

    def log_artifact(self, path: Path, folder: str) -> None:
        pass  # the files already sit in the run directory beside the event files

    def close(self, status: str) -> None:
        from torch.utils.tensorboard.summary import hparams

        if self.params:
            finals = {k: v for k, v in self.last.items() if k.startswith(("val/", "test/", "eval/"))}
            for summary in hparams(self.params, finals):
                self.writer.file_writer.add_summary(summary)
        self.writer.add_text("status", status, 0)
        self.writer.close()

    def where(self) -> dict[str, Any]:
        root = self.logdir.parent.parent
        return {"logdir": str(self.logdir), "show": f"tensorboard --logdir {root}"}


def open(cfg, run, previous: dict | None) -> TensorBoard:
    """A writer appending to `<run>/tensorboard/` (a resumed run adds a new event file there)."""
    return TensorBoard(run.path / "tensorboard")
