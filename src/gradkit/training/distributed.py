"""This process's place in a distributed run: joining the process group, the few collectives the
loop needs, DDP wrapping, and failures that name the rank at fault.

Outside torchrun (and Slurm) `setup` returns `LOCAL`, a world of one whose collectives are the
identity, so the loop has one code path. Inside, every rank builds the same model from the same
seed (DDP also broadcasts rank 0's weights when it wraps), trains on its shard of each global
batch, and DDP averages the gradients during `backward()`.
"""
from __future__ import annotations

import atexit
import datetime
import math
import os
import re
import signal
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from gradkit.errors import ConfigError, GradkitError

# Fault injection for tests and drills: "RANK:STEP:kill|stall|exit" makes that rank SIGKILL
# itself, sleep forever, or exit(3) at its STEP-th training forward pass.
FAULT_ENV = "GRADKIT_DIST_FAULT"


class DistributedError(GradkitError):
    """A rank failed, stalled or could not join the run; the message names it."""


@dataclass(frozen=True)
class Placement:
    rank: int
    world: int
    local_rank: int
    local_world: int


def placement(env: dict[str, str] | os._Environ = os.environ) -> Placement | None:
    """Where this process sits, from torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK,
    LOCAL_WORLD_SIZE) or, without them, Slurm's (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID,
    used only when MASTER_ADDR is set, so a login shell inside `salloc` stays one process).
    None for a single process.

    >>> placement({"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"})
    Placement(rank=1, world=4, local_rank=1, local_world=2)
    """
    if "RANK" in env and "WORLD_SIZE" in env:
        world, rank = int(env["WORLD_SIZE"]), int(env["RANK"])
        local = Placement(rank, world, int(env.get("LOCAL_RANK", rank)),
                          int(env.get("LOCAL_WORLD_SIZE", world)))
    elif int(env.get("SLURM_NTASKS", "1")) > 1 and "SLURM_PROCID" in env and "MASTER_ADDR" in env:
        world, rank = int(env["SLURM_NTASKS"]), int(env["SLURM_PROCID"])
        per_node = env.get("SLURM_NTASKS_PER_NODE", "").split("(")[0].split(",")[0]
        local = Placement(rank, world, int(env.get("SLURM_LOCALID", "0")),
                          int(per_node) if per_node.isdigit() else 1)
    else:
        return None
    return local if local.world > 1 else None


class Dist:
    """One rank of a run (or `LOCAL`, the whole run in one process).

    The loop asks it for this rank's shard `(rank, world)`, sums across ranks (`sum`), rank 0's
    copy of an object (`from_main`), everyone's copy (`gather`), and the task with its modules
    wrapped in DDP for a training epoch (`training`).
    """

    def __init__(self, place: Placement | None = None, device: torch.device | None = None,
                 timeout: float = 600.0, backend: str | None = None) -> None:
        self.rank = place.rank if place else 0
        self.world = place.world if place else 1
        self.local_rank = place.local_rank if place else 0
        self.local_world = place.local_world if place else 1
        self.device = device or torch.device("cpu")
        self.timeout = timeout
        self.backend = backend
        self._monitor = None  # a gloo group for monitored_barrier: who stalled
        self._ddp: dict[int, tuple[torch.nn.Module, tuple, torch.nn.Module]] = {}
        self._fault = _fault_for(self.rank) if place else None

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def shard(self) -> tuple[int, int]:
        return self.rank, self.world

    # collectives (identity for a world of one)
    def sum(self, values: list[float]) -> list[float]:
        if self.world == 1:
            return values
        import torch.distributed as td

        t = torch.tensor(values, dtype=torch.float64, device=self._comm_device)
        td.all_reduce(t)
        return t.cpu().tolist()

    def from_main(self, obj: Any) -> Any:
        if self.world == 1:
            return obj
        import torch.distributed as td

        box = [obj if self.main else None]
        td.broadcast_object_list(box, src=0, device=self._comm_device)
        return box[0]

    def gather(self, obj: Any) -> list[Any]:
        if self.world == 1:
            return [obj]
        import torch.distributed as td

        out: list[Any] = [None] * self.world
        td.all_gather_object(out, obj)
        return out

    def all_finite(self, loss: torch.Tensor) -> bool:
        """Whether every rank's loss is finite: one answer for all, so no rank raises alone
        and leaves the others waiting in the next all-reduce."""
        if self.world == 1:
            return math.isfinite(loss.item())
        return self.sum([float(math.isfinite(loss.item()))])[0] == self.world

    @property
    def _comm_device(self) -> torch.device:
        return self.device if self.backend == "nccl" else torch.device("cpu")

    # DDP
    def check(self, task) -> None:
        if self.world > 1 and hasattr(task, "configure_optimizers"):
            raise ConfigError(
                f"{type(task).__name__} steps several optimisers through sub-modules (a GAN's "
                "generator and discriminator), which DDP cannot synchronise as one module; "
                "train it in one process (drop --nproc / torchrun)")

    @contextmanager
    def training(self, task) -> Iterator[None]:
        """The task's module attributes point at DDP wrappers for one epoch, then back.

        `task.models` keeps the raw modules, so checkpoints have no `module.` prefixes and
        evaluation runs without DDP. A wrapper is rebuilt when the set of trainable parameters
        changes (`train.unfreeze_at_epoch`): DDP registers its gradient hooks once.
        """
        if self.world == 1:
            yield
            return
        raw = list(task.models.values())
        swapped = {k: v for k, v in vars(task).items() if any(v is m for m in raw)}
        for name, module in swapped.items():
            setattr(task, name, self._wrap(module))
        try:
            yield
        finally:
            for name, module in swapped.items():
                setattr(task, name, module)

    def _wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        from torch.nn.parallel import DistributedDataParallel

        trainable = tuple(p.requires_grad for p in module.parameters())
        held = self._ddp.get(id(module))
        if held is None or held[0] is not module or held[1] != trainable:
            ids = [self.device.index] if self.device.type == "cuda" else None
            wrapper = DistributedDataParallel(module, device_ids=ids)
            if self._fault:
                module.register_forward_pre_hook(self._fault)
                self._fault = None
            self._ddp[id(module)] = (module, trainable, wrapper)
        return self._ddp[id(module)][2]

    # failures
    @contextmanager
    def guard(self) -> Iterator[None]:
        """A collective that fails or times out becomes a DistributedError naming the ranks
        that stopped answering (gloo's monitored barrier asks each one)."""
        if self.world == 1:
            yield
            return
        try:
            yield
        except RuntimeError as exc:  # DistBackendError, gloo's timeouts and closed connections
            if not _is_collective_failure(exc):
                raise
            raise DistributedError(self._explain(exc)) from exc

    def _explain(self, exc: BaseException) -> str:
        return (f"rank {self.rank} of {self.world} on {socket.gethostname()}: a collective "
                f"operation failed ({_first_line(exc)}). {self._who_stalled()} A rank that died, "
                f"stalled or ran out of memory stops the others; train.dist_timeout="
                f"{self.timeout:g} s bounds the wait.")

    def _who_stalled(self) -> str:
        """Rank 0 waits for every rank at a monitored barrier and learns which never came."""
        import torch.distributed as td

        if self._monitor is None:
            return ""
        wait = min(30.0, self.timeout)
        try:
            td.monitored_barrier(self._monitor, timeout=datetime.timedelta(seconds=wait),
                                 wait_all_ranks=True)
        except RuntimeError as exc:
            missing = re.search(r"Ranks? ([\d, ]+) failed to pass monitoredBarrier", str(exc))
            if missing:
                return (f"Rank {missing.group(1).strip()} did not reach a barrier within {wait:g} s "
                        "either: it stalled or died.")
            return f"A barrier afterwards failed too ({_first_line(exc)})."
        return "Every rank reached a barrier afterwards."

    def close(self) -> None:
        import torch.distributed as td

        if self.world > 1 and td.is_initialized():
            td.destroy_process_group()


LOCAL = Dist()
_CURRENT: Dist | None = None


def is_main_process() -> bool:
    """False on ranks other than 0 of a torchrun/Slurm run (they print nothing)."""
    place = placement()
    return place is None or place.rank == 0


def setup(train_cfg, device: torch.device) -> Dist:
    """Join the process group when torchrun or Slurm started this process; else `LOCAL`.

    The backend follows the device (nccl on CUDA, gloo on CPU); on CUDA each rank takes the GPU
    of its LOCAL_RANK. Without `train.threads`, each rank gets its share of the CPU cores.
    Once per process: a second run in the same processes reuses the group.
    """
    global _CURRENT
    place = placement()
    if place is None:
        return LOCAL
    if _CURRENT is not None:
        return _CURRENT
    if device.type == "mps":
        raise ConfigError("distributed training needs CUDA or the CPU; use train.device=cpu")
    if device.type == "cuda":
        if device.index is not None and place.local_world > 1:
            raise ConfigError(f"train.device={device} pins every rank to one GPU; use "
                              "train.device=cuda (each rank takes the GPU of its LOCAL_RANK)")
        device = torch.device("cuda", device.index if device.index is not None else place.local_rank)
        if device.index >= torch.cuda.device_count():
            raise ConfigError(f"rank {place.rank} needs GPU {device.index}, but this machine has "
                              f"{torch.cuda.device_count()}: start at most that many processes per "
                              "machine, or use train.device=cpu")
        torch.cuda.set_device(device)
    if not train_cfg.threads:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // place.local_world))
    dist = Dist(place, device, train_cfg.dist_timeout, "nccl" if device.type == "cuda" else "gloo")
    _init_group(dist, place)
    _CURRENT = dist
    atexit.register(dist.close)
    return dist


def _init_group(dist: Dist, place: Placement) -> None:
    import torch.distributed as td

    os.environ.setdefault("RANK", str(place.rank))  # Slurm: env:// reads these
    os.environ.setdefault("WORLD_SIZE", str(place.world))
    os.environ.setdefault("MASTER_PORT", "29500")
    timeout = datetime.timedelta(seconds=dist.timeout)
    try:
        td.init_process_group(dist.backend, timeout=timeout,
                              device_id=dist.device if dist.backend == "nccl" else None)
        dist._monitor = td.new_group(backend="gloo", timeout=timeout)
    except (RuntimeError, ValueError) as exc:
        raise DistributedError(
            f"rank {place.rank} of {place.world} could not join the run ({exc}); check "
            "MASTER_ADDR/MASTER_PORT (or torchrun's --rdzv-endpoint) are reachable from every "
            "node, and that all ranks started") from None


def _first_line(exc: BaseException) -> str:
    """The message without the C++ source location gloo and NCCL put first."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = re.sub(r"^(\[[^\]]*\]:?\s*)+", "", text)
    return text.split(". ")[0].rstrip(".")[:300]  # gloo appends advice and "GLHF!"


def _is_collective_failure(exc: BaseException) -> bool:
    import torch.distributed as td

    if isinstance(exc, getattr(td, "DistError", ())):
        return True
    text = str(exc).lower()
    return any(s in text for s in ("gloo", "nccl", "connection closed", "connection reset",
                                   "timed out", "timeout", "broken pipe"))


def _fault_for(rank: int):
    spec = os.environ.get(FAULT_ENV, "")
    if not spec:
        return None
    try:
        want, step, kind = spec.split(":")
        want, step = int(want), int(step)
    except ValueError:
        raise ConfigError(f"{FAULT_ENV}={spec!r}: expected RANK:STEP:kill|stall|exit") from None
    if want != rank:
        return None
    seen = [0]

    def fault(module, args) -> None:
        if not module.training:
            return
        seen[0] += 1
        if seen[0] == step:
            if kind == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            elif kind == "stall":
                time.sleep(10**6)
            else:
                os._exit(3)

    return fault
