"""Checkpoints written atomically (temp file, fsync, rename) and read weights-only: loading a
checkpoint never runs code from the file, and a damaged or foreign one is a clear error.
"""
from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import torch

from gradkit.errors import CheckpointError
from gradkit.rundir import atomic_write

FORMAT = "gradkit-checkpoint-1"


def save(path: str | Path, state: dict[str, Any]) -> None:
    """Write `state` to `path` so that a kill at any moment leaves the old file or the new one;
    a full disk or a missing permission raises `StorageError` and leaves the old one too."""
    atomic_write(Path(path), lambda fh: torch.save({"format": FORMAT, **state}, fh))


def numpy_globals() -> list[Any]:
    """What numpy arrays and scalars in a checkpoint (RL replay buffers, observation statistics,
    numpy's RNG state) need from the weights-only unpickler: array and scalar reconstruction,
    `ndarray`, `dtype` and the classes of the boolean and numeric dtypes; never the object
    dtype, whose items could be anything."""
    import numpy as np

    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray
    rebuild = [(fn, f"{module}.{fn.__name__}") for fn in (multiarray._reconstruct, multiarray.scalar)
               for module in ("numpy.core.multiarray", "numpy._core.multiarray")]
    dtypes = [type(np.dtype(code)) for code in "?bBhHiIlLqQefdgFDG"]
    return [*rebuild, np.ndarray, np.dtype, *dtypes]


def load(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a gradkit checkpoint; a missing, truncated, foreign or code-carrying file raises
    `CheckpointError`.

    The file is unpickled weights-only (tensors, numbers, strings, containers, numpy arrays):
    a checkpoint from an untrusted source cannot run code when it is loaded.

    >>> state = load("runs/digits-mlp/<run>/checkpoints/best.pt")
    >>> state["epoch"], list(state["models"])
    (20, ['model'])
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        with torch.serialization.safe_globals(numpy_globals()):
            state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Weights only load failed" not in str(exc):
            raise _damaged(path, exc) from None
        found = re.search(r"GLOBAL (\S+)|but got <class '([^']+)'>", str(exc))
        what = f" (it refers to {found.group(1) or found.group(2)})" if found else ""
        raise CheckpointError(
            f"{path} holds objects that are not plain weights{what}; gradkit refuses to unpickle "
            "them, because loading them could run code hidden in the file. Train the run again, "
            "or load it elsewhere with torch.load(weights_only=False) only if you trust its "
            "source completely") from None
    except Exception as exc:
        raise _damaged(path, exc) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a gradkit checkpoint (no '{FORMAT}' marker)")
    return state


def _damaged(path: Path, exc: Exception) -> CheckpointError:
    first = str(exc).splitlines()[0] if str(exc) else ""
    fix = (f"to continue from the best epoch, copy {path.parent / 'best.pt'} over it (the weights "
           "resume; the optimiser's state restarts), or train again"
           if path.name == "last.pt" and (path.parent / "best.pt").is_file() else
           f"use the other checkpoint in {path.parent} or train again")
    return CheckpointError(f"checkpoint {path} is corrupted or unreadable ({type(exc).__name__}: "
                           f"{first}); {fix}")
