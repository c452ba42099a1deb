"""One run's life in its directory, the same for every kind of run (supervised, RL, federated):
created with its resolved config and environment, marked running, then finished (metrics.json,
the final status) or failed (the error kept in run.json), reported, and mirrored to the trackers
`output.track` names.

    run = create(cfg, device)
    start(run, cfg, spec=..., device=...)                 # run.json: status running
    with tracked(cfg, run, verbose) as tracker:          # an exception marks tracked runs failed
        with failing(run):                               # ... and run.json failed / interrupted
            result = train(...)
        finish(run, metrics, status="completed", ...)    # metrics.json, run.json
        tracker.finish(run, metrics)
    report(run, verbose)
"""
from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from gradkit import config as C
from gradkit.errors import GradkitError, StorageError
from gradkit.rundir import RunDir, environment


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def create(cfg: C.RunConfig, device: Any) -> RunDir:
    """A new run directory (`output.run_dir`, or a fresh one under `output.dir`) holding the
    resolved config and the environment (versions, device, threads)."""
    run = RunDir.create(cfg.name, cfg.seed, cfg.output.dir, cfg.output.run_dir)
    run.write_text("config.yaml", C.dump(cfg))
    run.write_json("env.json", environment(str(device)))
    return run


def start(run: RunDir, cfg: C.RunConfig, **info: Any) -> None:
    """run.json: the run is running (a resumed one again), with what the caller knows of it;
    this process becomes its one writer (a second one is refused, naming this one)."""
    note = run.claim()
    if note:
        print(f"gradkit: {run.path}: {note}", file=sys.stderr, flush=True)
    run.update_info(name=cfg.name, status="running", started=now(), finished=None, error=None,
                    **info)


def mark(run: RunDir, **fields: Any) -> None:
    """Record in run.json if the disk still lets us: a full disk must not hide the error that
    stopped the run behind a second one."""
    try:
        run.update_info(**fields)
    except GradkitError:
        pass


def failed(run: RunDir, exc: BaseException) -> None:
    mark(run, status="interrupted" if isinstance(exc, KeyboardInterrupt) else "failed",
         error=f"{type(exc).__name__}: {exc}")
    run.release()


@contextmanager
def failing(run: RunDir) -> Iterator[None]:
    """Whatever stops the block is recorded in run.json (interrupted or failed), then raised; a
    full or read-only disk becomes the StorageError that says how to continue."""
    try:
        yield
    except StorageError as exc:
        raise stopped(run, exc) from None
    except BaseException as exc:
        failed(run, exc)
        if isinstance(exc, KeyboardInterrupt):
            print(interrupted(run), file=sys.stderr, flush=True)
        raise


def interrupted(run: RunDir) -> str:
    """What Ctrl-C leaves: what is recorded, what is kept, and the command that continues."""
    records = run.path / "metrics.jsonl"
    try:
        done = sum(1 for line in records.read_text(encoding="utf-8").splitlines() if line.strip())
    except (OSError, UnicodeDecodeError):
        done = 0
    kept = (f"its last complete checkpoint ({run.last}) is intact, after {done} recorded "
            f"evaluation(s); continue it with `gradkit train --resume {run.path}`"
            if run.last.is_file() else
            f"it had no complete checkpoint yet; `gradkit train --resume {run.path}` trains it from "
            "the start")
    return f"gradkit: interrupted; run.json says so, and {kept}"


def stopped(run: RunDir, exc: StorageError) -> StorageError:
    """A write failed mid-run: the error, plus what is kept and the command that continues."""
    if "\n  The run stopped: " in str(exc):  # already said (nested guards)
        return exc
    mark(run, status="failed", error=str(exc))
    run.release()
    kept = (f"its last complete checkpoint is intact ({run.last}); once fixed, continue it with "
            f"`gradkit train --resume {run.path}`" if run.last.is_file() else
            f"it had no complete checkpoint yet; once fixed, `gradkit train --resume {run.path}` "
            "trains it from the start")
    return StorageError(f"{exc}\n  The run stopped: {kept}")


def finish(run: RunDir, metrics: dict[str, Any], status: str, **info: Any) -> None:
    """metrics.json, and run.json's final status with what the caller adds (epochs, timings)."""
    run.write_json("metrics.json", metrics)
    run.update_info(status=status, finished=now(), **info)
    run.release()


@contextmanager
def tracked(cfg: C.RunConfig, run: RunDir, verbose: bool) -> Iterator[Any]:
    """The trackers `output.track` names, given the config first; closed as completed, failed or
    interrupted when the block ends (gradkit.track)."""
    from gradkit.track import open_trackers

    with open_trackers(cfg, run, verbose) as tracker:
        tracker.log_params(cfg)
        yield tracker


def report(run: RunDir, verbose: bool) -> None:
    """report.html; a problem building it is printed, never raised: it must not lose the run."""
    from gradkit.report import build_report

    try:
        path = build_report(run.path)
    except Exception as exc:
        print(f"gradkit: the report could not be built ({type(exc).__name__}: {exc}); "
              f"`gradkit report {run.path}` retries", flush=True)
        return
    if verbose:
        print(f"gradkit: report {path}", flush=True)
