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

import io
import json
import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from gradkit.errors import CheckpointError, storage_error


LOCK = ".writer.lock"  # who trains this run now (gradkit.rundir.RunDir.claim)
_HELD: dict[str, Any] = {}  # the run folders this process holds, by resolved path
TEMP_SUFFIX = ".tmp"  # `.NAME.<random>.tmp`: a write in progress, or one a killed process left


def atomic_write(path: Path, data: str | bytes | Callable[[BinaryIO], None],
                 mode: int | None = None) -> None:
    """Write `path` so that a kill, a power cut or a full disk at any moment leaves the old file
    or the new one, never part of one.

    `data` is text, bytes, or a function writing to a binary file (e.g. `torch.save`). It goes
    to a temp file beside `path` (readers ignore `.NAME.*.tmp`; `RunDir.clean_temp` removes
    those a killed process left), is flushed to the disk (fsync: without it, a power cut
    soon after the rename can leave an empty file on some file systems), then renamed over
    `path`. The folder is not synced: a rename lost to a power cut leaves the previous
    version, still whole (and it would cost a few ms per epoch). A failed write (disk full,
    no permission) removes the temp file and raises `StorageError` naming the file and the fix.

    >>> atomic_write(Path("runs/x/run.json"), '{"status": "running"}')
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    except OSError as exc:
        raise storage_error(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            if callable(data):
                data(fh)
            else:
                fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)  # mkstemp makes 0600
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise storage_error(path, exc) from None
        raise


def save_npz(path: Path, **arrays: Any) -> None:
    """`np.savez_compressed`, written atomically (the report reads these files)."""
    import numpy as np

    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write(path, buf.getvalue())


def unique_dir(parent: str | Path, stem: str) -> Path:
    """`parent/stem`, or the first of `stem-2`, `stem-3`... that does not exist yet (not created).

    >>> unique_dir("runs/digits-mlp", f"{stamp()}-s0")
    PosixPath('runs/digits-mlp/20260101-120000-s0')
    """
    path = Path(parent) / stem
    n = 1
    while path.exists():
        n += 1
        path = Path(parent) / f"{stem}-{n}"
    return path


def stamp() -> str:
    """The local time as it names run directories: YYYYmmdd-HHMMSS."""
    return time.strftime("%Y%m%d-%H%M%S")


class Phases:
    """Seconds a run spends per phase (setup, training, final evaluation, baselines, artifacts,
    explanations, report), in the order they ran; run.json keeps them as `phases`, and
    benchmarks/overhead.py sets them against the whole process's wall time."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - start, 4)


class RunDir:
    """Paths and atomic writers for one run directory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock: Any = None

    # one writer: the training process holds an exclusive lock on LOCK for its life
    def claim(self) -> str | None:
        """Take the run's writer lock (an flock on `.writer.lock`, released by `release` or by the
        kernel when the process dies, so a crash never leaves a stale lock). A second writer gets a
        CheckpointError naming the process that holds it. Returns a note when the previous owner
        stopped without releasing the run (a crash or kill -9), else None. Without fcntl
        (Windows) or where the folder cannot hold the file, nothing is locked."""
        if self._lock is not None:
            return None
        try:
            import fcntl
        except ImportError:
            return None
        key = str(self.path.resolve())
        if key in _HELD:  # this process holds it already (another RunDir of the same folder)
            self._lock = _HELD[key]
            return None
        try:
            handle = open(self.path / LOCK, "a+", encoding="utf-8")
        except OSError:
            return None  # a read-only folder: the first real write reports it, with its fix
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            owner = handle.read().strip() or "another process"
            handle.close()
            raise CheckpointError(f"{self.path} is being written by {owner}: a run has one writer. "
                                  "Wait for that process to finish (or stop it), then resume; or "
                                  "train a copy into another --out") from None
        handle.seek(0)
        previous = handle.read().strip()
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()} on {platform.node()} since {time.strftime('%Y-%m-%dT%H:%M:%S')}")
        handle.flush()
        self._lock = _HELD[key] = handle
        return (f"took the run over from {previous}, which stopped without releasing it"
                if previous else None)

    def release(self) -> None:
        """Give up the writer lock (emptied: the next writer finds no owner to report)."""
        handle, self._lock = self._lock, None
        if handle is None or handle.closed:
            return
        import fcntl

        for key in [k for k, v in _HELD.items() if v is handle]:
            del _HELD[key]

        try:
            handle.seek(0)
            handle.truncate()
            handle.flush()
        except OSError:
            pass
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()

    @classmethod
    def create(cls, name: str, seed: int, root: str = "runs", exact: str | None = None) -> RunDir:
        if exact:
            path = Path(exact)
            if (path / "config.yaml").exists():
                raise CheckpointError(f"{path} already holds a run; choose another --out or "
                                      f"continue it with `gradkit train --resume {path}`")
        else:
            path = unique_dir(Path(root) / name, f"{stamp()}-s{seed}")
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
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, OSError) as exc:  # JSONDecodeError, UnicodeDecodeError are ValueErrors
            raise CheckpointError(f"{path} is unreadable ({type(exc).__name__}: {exc}); "
                                  "delete it or restore it from a backup") from None
        if name == "run.json" and not isinstance(data, dict):
            raise CheckpointError(f"{path} is damaged (a {type(data).__name__}, not an object); "
                                  "delete it or restore it from a backup")
        return data

    def update_info(self, **fields: Any) -> None:
        self.write_json("run.json", {**self.read_json("run.json", {}), **fields})

    def write_metrics_history(self, records: list[dict[str, Any]]) -> None:
        self.write_text("metrics.jsonl", "".join(json.dumps(r) + "\n" for r in records))

    def history(self) -> list[dict[str, Any]]:
        """The per-epoch records of metrics.jsonl. gradkit rewrites the file atomically, but one
        appended to by other tools can end in a torn line: that last line is dropped."""
        path = self.path / "metrics.jsonl"
        if not path.is_file():
            return []
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise CheckpointError(f"{path} is damaged (not UTF-8 text at byte {exc.start}); delete "
                                  "the damaged lines, or the file to keep only the checkpoints' "
                                  "state") from None
        lines = [line for line in text.splitlines() if line.strip()]
        records = []
        for i, line in enumerate(lines, start=1):
            try:
                records.append(json.loads(line))
            except ValueError:
                if i == len(lines):
                    break
                raise CheckpointError(f"{path} line {i} is not JSON; delete that line") from None
        return records

    def clean_temp(self) -> list[Path]:
        """Remove the temp files (`.NAME.*.tmp`) a killed writer left; returns what it removed.
        Call it only when no process is writing this run (e.g. on resume)."""
        stale = [p for p in self.path.rglob(f".*{TEMP_SUFFIX}") if p.is_file()]
        for p in stale:
            p.unlink(missing_ok=True)
        return stale


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)


def environment(device: str) -> dict[str, Any]:
    """Versions, device and threads: what someone needs to reproduce a figure."""
    from importlib.metadata import PackageNotFoundError, version

    import torch

    from gradkit.version import __version__

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
