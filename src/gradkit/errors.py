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
