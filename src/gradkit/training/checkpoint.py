"""Checkpoints written atomically (temp file + rename), read with a clear error when damaged."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from gradkit.errors import CheckpointError

FORMAT = "gradkit-checkpoint-1"


def save(path: str | Path, state: dict[str, Any]) -> None:
    """Write `state` to `path` so that a kill at any moment leaves the old file or the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save({"format": FORMAT, **state}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a gradkit checkpoint; a missing, truncated or foreign file raises `CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:
        raise CheckpointError(
            f"checkpoint {path} is corrupted or unreadable ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); use the other checkpoint in "
            f"{path.parent} or train again") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a gradkit checkpoint (no '{FORMAT}' marker)")
    return state
