"""Helpers shared by the benchmark scripts: machine facts, load checks, atomic JSON writes.

Benchmarks are run as `python benchmarks/<name>.py` from the repo root, so this folder is on
`sys.path` and the scripts import this file as `_bench`.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def cpu_model() -> str:
    """The CPU's marketing name, which `platform` does not give on Linux."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    import torch

    return {"cpu_count": os.cpu_count(), "cpu_model": cpu_model(),
            "torch_threads": torch.get_num_threads(), "torch_version": torch.__version__,
            "python": platform.python_version(), "platform": platform.platform()}


def load_average() -> list[float]:
    """1, 5 and 15-minute load averages; on a 2-core box ~2 means someone else holds the CPU."""
    return [round(x, 2) for x in os.getloadavg()]


def busy_warning(threshold: float = 0.5) -> str | None:
    """A warning when the 1-minute load says other work is running (timings would be unreliable)."""
    one_minute = os.getloadavg()[0]
    if one_minute <= threshold:
        return None
    return (f"1-minute load average is {one_minute:.2f} before the benchmark started: other "
            "processes are probably using the CPU, so timings may be pessimistic")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write via a temporary file in the same folder and `os.replace`, so readers never see half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def output_path(out: str | None, name: str, quick: bool) -> Path:
    """Where to write: `--out`, else results/NAME.json; quick smoke runs go to /tmp instead,
    so that checking a script never overwrites the figures RESULTS.md is built from."""
    if out:
        return Path(out)
    if quick:
        return Path(tempfile.gettempdir()) / f"gradkit-bench-{name}.quick.json"
    return RESULTS_DIR / f"{name}.json"
