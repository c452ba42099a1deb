"""Strict, named registries: models, data sets, tasks, recipes.

Registering a name twice raises (torchvision's `_api.py` does the same): a silent overwrite
turns a typo in a plug-in into a wrong model trained for an hour.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from gradkit.errors import ConfigError, did_you_mean

T = TypeVar("T")
_DECORATE = object()  # sentinel: `register(name)` without an entry returns a decorator


class Registry(Generic[T]):
    """A name -> entry mapping that refuses duplicates and suggests near misses.

    >>> MODELS = Registry("model")
    >>> @MODELS.register("mlp")
    ... def build_mlp(): ...
    >>> MODELS.get("mpl")  # raises ConfigError: unknown model 'mpl' (did you mean 'mlp'?)
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T = _DECORATE) -> Callable[[T], T] | T:  # type: ignore[assignment]
        if entry is not _DECORATE:
            self._add(name, entry)
            return entry

        def decorator(obj: T) -> T:
            self._add(name, obj)
            return obj

        return decorator

    def _add(self, name: str, entry: T) -> None:
        if name in self._entries:
            raise KeyError(f"{self.kind} '{name}' is already registered")
        self._entries[name] = entry

    def get(self, name: str, key: str | None = None) -> T:
        if name not in self._entries:
            where = f"{key}: " if key else ""
            raise ConfigError(
                f"{where}unknown {self.kind} '{name}'{did_you_mean(name, self._entries)}; "
                f"choose one of: {', '.join(sorted(self._entries))}"
            )
        return self._entries[name]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
