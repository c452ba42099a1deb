"""Where named data sets are found, in order, and the message when they are not."""
from __future__ import annotations

import os
from pathlib import Path

# Debian's `dataset-fashion-mnist` (and friends) install IDX files here.
SYSTEM_DIRS = [Path("/usr/share/datasets"), Path("/usr/local/share/datasets")]


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gradkit"


def computed_cache() -> Path:
    """Where gradkit keeps what it computed once (reference classifiers, baselines):
    `$GRADKIT_CACHE`, else the user cache (~/.cache/gradkit)."""
    root = os.environ.get("GRADKIT_CACHE")
    return Path(root).expanduser() if root else cache_dir()


def search_dirs(name: str, data_dir: str | None, subdirs: list[str]) -> list[Path]:
    """Candidate directories for data set `name`, most specific first.

    Order: `data.dir`, `$GRADKIT_DATA`, the user cache, well-known system places. Each root is
    tried as is and with the data set's usual sub-folders (ours and torchvision's layouts).
    """
    roots: list[Path] = []
    if data_dir:
        roots.append(Path(data_dir).expanduser())
    if os.environ.get("GRADKIT_DATA"):
        roots.append(Path(os.environ["GRADKIT_DATA"]).expanduser())
    roots.append(cache_dir())
    roots.extend(SYSTEM_DIRS)
    out: list[Path] = []
    for root in roots:
        for sub in ["", *subdirs]:
            path = root / sub if sub else root
            if path not in out:
                out.append(path)
    return out


def missing_message(name: str, looked: list[Path], how: str, error: str | None) -> str:
    where = "\n".join(f"    {p}" for p in looked)
    why = f"\n  Download failed: {error}" if error else "\n  Download disabled (data.download=false)."
    return (
        f"data set '{name}' was not found.\n  Looked in:\n{where}{why}\n  To get it: {how}\n"
        f"  Or point gradkit at a folder holding it: data.dir=/path/to/folder "
        f"(or set $GRADKIT_DATA)."
    )
