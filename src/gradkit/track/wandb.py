"""Weights & Biases: one W&B run per gradkit run, offline unless you are logged in.

Offline (no API key in WANDB_API_KEY or ~/.netrc, or WANDB_MODE=offline) the run is written
under `<run>/wandb/offline-run-*/` and uploaded later by `wandb sync <that folder>`; gradkit
itself never contacts the service then. `WANDB_MODE`, `WANDB_DIR` and `WANDB_PROJECT` are
honoured; the project defaults to `gradkit`, the group to the recipe's name.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gradkit.track import experiment_name, run_name


class WandB:
    def __init__(self, run, mode: str) -> None:
        self.run, self.mode = run, mode

    def log_params(self, params: dict[str, Any]) -> None:
        self.run.config.update(params, allow_val_change=True)

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        # W&B's step must not go back; the loop's steps only grow (final metrics reuse the last).
        self.run.log(metrics, step=step)

    def log_artifact(self, path: Path, folder: str) -> None:
        kind = "model" if path.suffix == ".pt" else "run-file"
        name = f"{self.run.id}-{path.stem}"  # artifact names: letters, digits, '-', '_', '.'
        self.run.log_artifact(str(path), name=name, type=kind)

    def close(self, status: str) -> None:
        self.run.finish(exit_code=0 if status == "completed" else 1)

    def where(self) -> dict[str, Any]:
        folder = str(Path(self.run.dir).parent)  # .../wandb/offline-run-<stamp>-<id>
        show = f"wandb sync {folder}" if self.mode == "offline" else self.run.url
        return {"mode": self.mode, "id": self.run.id, "dir": folder, "project": self.run.project,
                "show": f"{self.mode}, {show}"}


def open(cfg, run, previous: dict | None) -> WandB:
    """A W&B run in `<run>/wandb/` (or WANDB_DIR); a resumed run continues its W&B run id."""
    import wandb

    mode = os.environ.get("WANDB_MODE") or _mode(wandb)
    settings = wandb.Settings(silent=True, console="off")  # gradkit's own output stays as is
    kwargs: dict[str, Any] = {}
    if previous and previous.get("id"):
        kwargs = {"id": previous["id"], "resume": "allow"}
    w = wandb.init(project=os.environ.get("WANDB_PROJECT", "gradkit"), group=experiment_name(cfg),
                   name=run_name(run), dir=os.environ.get("WANDB_DIR") or str(run.path),
                   mode=mode, settings=settings, reinit="create_new", job_type="train",
                   notes=cfg.description or None, **kwargs)
    return WandB(w, mode)


def _mode(wandb) -> str:
    """online when an API key is configured (checked locally, verify=False: no network)."""
    return "online" if wandb.login(prompt=False, verify=False) else "offline"
