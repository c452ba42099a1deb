"""`--nproc N`: N local ranks started by torchrun's own agent (`elastic_launch`), as
`torchrun --standalone --nproc-per-node N` would, each running `gradkit.distributed.worker`.

The parent resolves and validates the config first (a typo fails here, once, not in N
processes), fixes the run directory so it can return the finished run, and turns torchrun's
`ChildFailedError` into one message naming the rank that failed first and how.
"""
from __future__ import annotations

import logging
import os
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gradkit import config as C
from gradkit.training.distributed import DistributedError, placement
from gradkit.errors import ConfigError


def check_nproc(nproc: int, cfg: C.RunConfig | None = None) -> None:
    """What `--nproc` cannot do, said before anything starts."""
    if nproc < 1:
        raise ConfigError(f"--nproc must be 1 or more, got {nproc}")
    if placement() is not None:
        raise ConfigError("--nproc starts its own processes, but this one already runs under "
                          "torchrun or Slurm; drop --nproc (torchrun's --nproc-per-node says it)")
    if cfg is not None and cfg.rl:
        raise ConfigError("reinforcement-learning runs train in one process; drop --nproc")
    if cfg is not None and getattr(cfg, "federated", None) is not None:
        raise ConfigError("federated runs simulate their clients with Flower; drop --nproc")
    if cfg is not None and cfg.seeds is not None:
        raise ConfigError(f"--seeds trains {cfg.name} several times; --nproc trains one run: drop one")
    if cfg is not None and cfg.variants:
        raise ConfigError(f"recipe '{cfg.name}' trains {len(cfg.variants)} variants; --nproc "
                          "trains one run: pick a variant's settings as overrides")


def train(cfg: C.RunConfig, nproc: int, verbose: bool = True):
    """Train `cfg` on `nproc` local ranks; returns the finished run (rank 0's), like `gk.train`.

    >>> run = train(gradkit.engine.resolve("digits-mlp"), nproc=2)
    """
    from gradkit.rundir import RunDir

    check_nproc(nproc, cfg)
    run = RunDir.create(cfg.name, cfg.seed, cfg.output.dir, cfg.output.run_dir)  # empty until rank 0 writes
    cfg = cfg.model_copy(update={"output": cfg.output.model_copy(update={"run_dir": str(run.path)})})
    with tempfile.TemporaryDirectory(prefix="gradkit-launch-") as tmp:
        spec = Path(tmp) / "config.yaml"
        spec.write_text(C.dump(cfg))
        _launch(nproc, ["--config", str(spec)], verbose, Path(tmp))
    return _finished(run.path)


def resume(run_dir: str | Path, nproc: int, verbose: bool = True):
    """Continue a run (distributed or not) from its last checkpoint on `nproc` local ranks.
    The global batch is the recipe's whatever the ranks, so any `nproc` continues it exactly."""
    from gradkit.rundir import RunDir

    run = RunDir.existing(run_dir)
    check_nproc(nproc, C.parse_file(run.config_path))
    with tempfile.TemporaryDirectory(prefix="gradkit-launch-") as tmp:
        _launch(nproc, ["--resume", str(run.path)], verbose, Path(tmp))
    return _finished(run.path)


def _finished(path: Path):
    from gradkit.engine import load

    return load(path)


def _launch(nproc: int, args: list[str], verbose: bool, logs: Path) -> None:
    from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs, SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    config = LaunchConfig(
        min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=uuid.uuid4().hex,
        rdzv_backend="c10d", rdzv_endpoint="localhost:0",  # torchrun --standalone: a free port
        max_restarts=0, monitor_interval=0.1, logs_specs=DefaultLogsSpecs(log_dir=str(logs)))
    argv = ["-u", "-m", "gradkit.distributed.worker", *args, *([] if verbose else ["--quiet"])]
    # The ranks import the gradkit this process runs (a source checkout too), and each gets its
    # share of the cores unless the config says train.threads.
    here = str(Path(__file__).resolve().parents[2])
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")])),
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS") or str(max(1, (os.cpu_count() or 1) // nproc))}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with _agent_logs_quiet():
            elastic_launch(config, sys.executable)(*argv)
    except ChildFailedError as exc:
        raise DistributedError(describe_failure(exc.failures, nproc)) from None
    except SignalException as exc:  # Ctrl-C or a scheduler's SIGTERM reached the agent
        raise DistributedError(f"stopped by {exc.sigval.name}: the agent stopped the ranks; "
                               "continue with `gradkit train --resume RUN_DIR --nproc N`") from None
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def describe_failure(failures: dict, world: int) -> str:
    """The rank at the root of a failure, and how it failed.

    In order: a rank killed by a signal (other than the SIGTERM and SIGINT with which the agent
    or the user stops ranks), then one that raised an error of its own, then one that raised a
    DistributedError (a collective failed: its message names who stopped answering), then the
    ranks the agent stopped.
    """
    def weight(item) -> tuple[int, int]:
        _, f = item
        stopped = f.exitcode < 0 and f.signal_name() in ("SIGTERM", "SIGINT")
        echo = "DistributedError" in str(f.message)
        return (3 if stopped else 0 if f.exitcode < 0 else 2 if echo else 1, f.timestamp)

    rank, f = min(failures.items(), key=weight)
    if f.exitcode < 0:
        how = f"was killed by signal {f.signal_name()} (exit code {f.exitcode})"
    else:
        how = f"exited with code {f.exitcode}"
    detail = f.message if isinstance(f.message, str) else f.message.get("message", "")
    detail = detail.rstrip(".") if detail and not detail.startswith(("Signal ", "To enable traceback")) else ""
    others = sorted(r for r in failures if r != rank)
    tail = (f" Also failed or stopped: rank {', '.join(map(str, others))}." if others else
            " The agent stopped the other ranks.")
    return (f"distributed run failed: rank {rank} of {world} (local rank {f.local_rank}, pid "
            f"{f.pid}) {how}" + (f": {detail}" if detail else "") + "." + tail +
            " Its last checkpoint is kept: continue with `gradkit train --resume RUN_DIR --nproc N`.")


@contextmanager
def _agent_logs_quiet() -> Iterator[None]:
    """torchrun's agent logs each worker it starts, stops or loses; our error says it once."""
    names = [n for n in logging.root.manager.loggerDict if n.startswith("torch.distributed")]
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
