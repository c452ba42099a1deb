"""The one exception users see: a message that names the problem and the fix."""
from __future__ import annotations

import difflib
from collections.abc import Iterable


class GradkitError(Exception):
    """A user-facing error. The CLI prints its message without a traceback."""


class ConfigError(GradkitError, ValueError):
    """Bad configuration: unknown key, wrong type, unknown name."""


class DataError(GradkitError):
    """A data set is missing, malformed or inconsistent with the config."""


class CheckpointError(GradkitError):
    """A checkpoint or run directory cannot be read."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' when a close match exists, else ''."""
    match = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


class StorageError(GradkitError, OSError):
    """A file of the run could not be written (disk full, no permission, read-only disk).
    Also an OSError, so code that caught the underlying error still catches it."""


def storage_error(path, exc: OSError) -> StorageError:
    """A failed write -> an error naming the file, the cause and the fix.

    >>> storage_error("runs/x/checkpoints/last.pt", OSError(28, "No space left on device"))
    StorageError('could not write runs/x/checkpoints/last.pt: No space left on device (ENOSPC); free...')
    """
    import errno
    import shutil
    from pathlib import Path

    folder = Path(path).parent
    code = errno.errorcode.get(exc.errno or 0, "")
    elsewhere = "or write runs to another disk (output.dir=FOLDER, or --out FOLDER)"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("."))
        try:
            free = f" ({shutil.disk_usage(existing).free / 2**20:,.0f} MB free there now)"
        except OSError:
            free = ""
        fix = f"free disk space on the disk holding {folder}{free}, {elsewhere}"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = f"make {folder} writable (e.g. `chmod u+w {folder}`), {elsewhere}"
    else:
        fix = f"check the disk and the folder {folder}, {elsewhere}"
    cause = exc.strerror or str(exc) or type(exc).__name__
    return StorageError(f"could not write {path}: {cause}{f' ({code})' if code else ''}; {fix}")
