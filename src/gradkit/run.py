"""The run directory: one folder per run holding everything it produced, written atomically.

    runs/<name>/<YYYYmmdd-HHMMSS>-s<seed>/
      config.yaml        the resolved config (`--resume` reloads exactly this)
      run.json           status, data spec, parameter count, best epoch, timings
      env.json           versions, device, threads, git commit
      metrics.jsonl      one line per completed epoch
      metrics.json       final figures: test/*, val/*, baseline/*
      checkpoints/       last.pt (every epoch, for resume) and best.pt (by train.monitor)
      artifacts/         test_details.json, samples.npz (for the report)
      report.html        self-contained report
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from gradkit.errors import CheckpointError


def atomic_write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8") if isinstance(text, str) else text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class RunDir:
    """Paths and atomic writers for one run directory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @classmethod
    def create(cls, name: str, seed: int, root: str = "runs", exact: str | None = None) -> RunDir:
        if exact:
            path = Path(exact)
            if (path / "config.yaml").exists():
                raise CheckpointError(f"{path} already holds a run; choose another --out or "
                                      f"continue it with `gradkit train --resume {path}`")
        else:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            path = Path(root) / name / f"{stamp}-s{seed}"
            n = 1
            while path.exists():
                n += 1
                path = Path(root) / name / f"{stamp}-s{seed}-{n}"
        (path / "checkpoints").mkdir(parents=True, exist_ok=True)
        return cls(path)

    @classmethod
    def existing(cls, path: str | Path) -> RunDir:
        run = cls(path)
        if not (run.path / "config.yaml").is_file():
            raise CheckpointError(f"{run.path} is not a gradkit run directory (no config.yaml)")
        return run

    # paths
    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    @property
    def last(self) -> Path:
        return self.path / "checkpoints" / "last.pt"

    @property
    def best(self) -> Path:
        return self.path / "checkpoints" / "best.pt"

    @property
    def report(self) -> Path:
        return self.path / "report.html"

    # writers
    def write_text(self, name: str, text: str) -> None:
        atomic_write(self.path / name, text)

    def write_json(self, name: str, obj: Any) -> None:
        atomic_write(self.path / name, json.dumps(obj, indent=2, default=_jsonable) + "\n")

    def read_json(self, name: str, default: Any = None) -> Any:
        path = self.path / name
        if not path.is_file():
            return default
        return json.loads(path.read_text(encoding="utf-8"))

    def update_info(self, **fields: Any) -> None:
        self.write_json("run.json", {**self.read_json("run.json", {}), **fields})

    def write_metrics_history(self, records: list[dict[str, Any]]) -> None:
        self.write_text("metrics.jsonl", "".join(json.dumps(r) + "\n" for r in records))

    def history(self) -> list[dict[str, Any]]:
        path = self.path / "metrics.jsonl"
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)


def environment(device: str) -> dict[str, Any]:
    """Versions, device and threads: what someone needs to reproduce a figure."""
    from importlib.metadata import PackageNotFoundError, version

    import torch

    from gradkit import __version__

    try:  # read from the installed metadata: importing torchvision takes ~1.5 s
        vision = version("torchvision")
    except PackageNotFoundError:
        vision = None

    return {
        "gradkit": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": vision,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "device": device,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "git_commit": _git_commit(),
    }


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=5, cwd=Path(__file__).parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None
