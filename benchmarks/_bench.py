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


# The instruction sets that decide PyTorch's CPU speed: without avx512_bf16/amx_bf16,
# train.precision=auto trains in fp32, and "AMD EPYC" alone does not say which kind it was.
SPEED_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


def cpu_flags() -> list[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                present = set(line.split(":", 1)[1].split())
                return [f for f in SPEED_FLAGS if f in present]
    except OSError:
        pass
    return []


def machine() -> dict[str, Any]:
    import torch

    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] \
        if torch.cuda.is_available() else []
    return {"cpu_count": os.cpu_count(), "cpu_model": cpu_model(), "cpu_flags": cpu_flags(),
            "torch_threads": torch.get_num_threads(), "torch_version": torch.__version__,
            "python": platform.python_version(), "platform": platform.platform(),
            "gpus": gpus}


def load_average() -> list[float]:
    """1, 5 and 15-minute load averages (they lag: a run that just ended still shows)."""
    return [round(x, 2) for x in os.getloadavg()]


def cpu_counters() -> tuple[float, float, float]:
    """(machine busy CPU-seconds, machine total CPU-seconds, this process's and its children's)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    tick = os.sysconf("SC_CLK_TCK")
    mine = os.times()  # children: DataLoader workers, once they have exited and been reaped
    own = mine.user + mine.system + mine.children_user + mine.children_system
    return (sum(fields[:8]) - idle) / tick, sum(fields[:8]) / tick, own


def others_share(before: tuple, after: tuple) -> float:
    """Fraction of the whole machine's CPU other processes used between two `cpu_counters()`.

    The load average cannot tell our own work from someone else's; this can, which is what
    decides whether a timing is trustworthy.
    """
    busy, total, mine = (a - b for a, b in zip(after, before))
    return max(0.0, busy - mine) / total if total > 0 else 0.0


def idle_check(seconds: float = 3.0) -> float:
    """Others' CPU share over a short quiet window before the benchmark starts."""
    before = cpu_counters()
    time.sleep(seconds)
    return others_share(before, cpu_counters())


def busy_warning(before: float, during: float, threshold: float = 0.05) -> str | None:
    """A warning when other processes used more than `threshold` of the CPU before or during."""
    if max(before, during) <= threshold:
        return None
    return (f"other processes used {before:.0%} of the CPU just before and {during:.0%} during "
            "the benchmark: timings are unreliable (pessimistic); rerun on an idle machine")


def conditions(quiet_share: float, start: tuple) -> dict[str, Any]:
    """How busy the machine was: others' CPU share before (`idle_check`) and since `start`."""
    during = others_share(start, cpu_counters())
    return {"others_cpu_share_before": round(quiet_share, 3),
            "others_cpu_share_during": round(during, 3),
            "load_average_after": load_average(),
            "busy_warning": busy_warning(quiet_share, during)}


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def write_text(path: Path, text: str) -> None:
    """Write via a temporary file in the same folder and `os.replace`, so readers never see half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: dict[str, Any]) -> None:
    write_text(path, json.dumps(data, indent=2) + "\n")


def publish(path: Path) -> None:
    """Regenerate RESULTS.md when a result landed in results/ (not for /tmp smoke checks)."""
    if path.resolve().parent == RESULTS_DIR:
        import summarize

        summarize.main([])


REFUSE_SHARE = 0.10  # others' CPU share above which a result is not written to results/


def finish(result: dict[str, Any], path: Path, print_summary: Any) -> None:
    """Write the result, print the script's summary and the machine state, refresh RESULTS.md.

    A run during which (or just before which) other processes used more than 10% of the CPU is
    not written to results/ (RESULTS.md is built from there and its figures are quoted against
    targets): it goes to the temp folder, marked, so the numbers are kept but never quoted."""
    c = result["conditions"]
    busy = max(c["others_cpu_share_before"], c["others_cpu_share_during"]) > REFUSE_SHARE
    if busy and path.resolve().parent == RESULTS_DIR.resolve():
        path = Path(tempfile.gettempdir()) / f"gradkit-bench-{path.stem}.busy.json"
        result["not_quotable"] = "other processes used more than 10% of the CPU: rerun it alone"
    write_json(path, result)
    print_summary(result)
    warning = c["busy_warning"]
    print(f"  machine {'BUSY: ' + warning if warning else 'otherwise idle'}")
    print(f"  wrote {path}" + (" (NOT to results/: the machine was busy; rerun it alone)" if busy else ""))
    if not busy:
        publish(path)


def output_path(out: str | None, name: str, quick: bool) -> Path:
    """Where to write: `--out`, else results/NAME.json; quick smoke runs go to /tmp instead,
    so that checking a script never overwrites the figures RESULTS.md is built from."""
    if out:
        return Path(out)
    if quick:
        return Path(tempfile.gettempdir()) / f"gradkit-bench-{name}.quick.json"
    return RESULTS_DIR / f"{name}.json"
