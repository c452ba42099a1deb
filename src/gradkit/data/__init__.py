"""Data sets by name: `gradkit.data.load("fashion-mnist")` -> a `Dataset` of tensors (or files).

Each named set is registered beside its loader with `@register(name, targets, description)`
on a builder `(DataConfig, targets, seed) -> Dataset`. `targets` says what a set's examples
are labelled with, which is what a task asks for (`Task.targets`):

    classes      class labels (images, rows, texts)
    values       numbers (regression)
    series       the next values of a series (forecast windows)
    characters   the next characters of a text (language-model windows)
    any          a table whose target column is labels or numbers, as the task needs (csv)
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gradkit.data.base import DataSpec, Dataset, Split, StreamSplit, normalize
from gradkit.data.batches import Batches, StreamBatches, make_batches
from gradkit.errors import ConfigError
from gradkit.registry import Registry

TARGETS = ("classes", "values", "series", "characters")


@dataclass(frozen=True)
class DatasetEntry:
    build: Callable[..., Dataset]  # (DataConfig, targets: str, seed: int) -> Dataset
    targets: str  # one of TARGETS, or "any"
    description: str
    given: bool = False  # data handed over in Python (gk.fit): a config cannot load it again


DATASETS: Registry[DatasetEntry] = Registry("data set")


def register(name: str, targets: str, description: str, given: bool = False) -> Callable:
    """Decorator: `@register("digits", "classes", "...")` on a builder `(cfg, targets, seed)`."""
    if targets not in (*TARGETS, "any"):
        raise ValueError(f"targets must be one of {TARGETS} or any, got {targets!r}")

    def decorator(builder: Callable[..., Dataset]) -> Callable[..., Dataset]:
        DATASETS.register(name, DatasetEntry(builder, targets, description, given))
        return builder

    return decorator


def add(name: str, dataset: Dataset, description: str = "") -> None:
    """Name a data set you built in Python (`from_arrays`, `from_dataframe`, `from_torch`...), so
    that configs name it like any other in this process: recipes with overrides, variants, a
    tuning study run in this process (jobs=1), `gradkit.doctor.check_data`.

    >>> gk.data.add("houses", gk.data.from_dataframe(df, target="price"))
    >>> gk.train("diabetes-linear", data={"name": "houses"})
    """
    def build_it(cfg: Any, targets: str, seed: int) -> Dataset:
        return dataset

    register(name, dataset.targets or "any", description or f"{dataset.name}, added in Python",
             given=True)(build_it)


def build(cfg: Any, targets: str | None = None, seed: int = 0) -> Dataset:
    """Build the data set a `DataConfig` names, with the `targets` a task needs (None: the
    set's own; a table of either kind: classes)."""
    entry = DATASETS.get(cfg.name, key="data.name")
    wanted = targets or (entry.targets if entry.targets != "any" else "classes")
    if entry.targets not in ("any", wanted):
        raise ConfigError(f"data set '{cfg.name}' holds {entry.targets}, not {wanted}")
    data = entry.build(cfg, wanted, seed)
    data.targets = wanted
    return data


def load(name: str, seed: int = 0, targets: str | None = None, **options: Any) -> Dataset:
    """Load a named data set with default splits, e.g. `gk.data.load("fashion-mnist")`."""
    from gradkit.config import DataConfig

    DATASETS.get(name, key="data.name")
    return build(DataConfig(name=name, **options), targets, seed)


def load_arrays(name: str, seed: int = 0, **options: Any) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
    """A named data set as Keras' `load_data()` gives one: ((x_train, y_train), (x_test, y_test)),
    numpy arrays in raw units (no validation part carved out: gk.fit holds one out itself).

    >>> (x_train, y_train), (x_test, y_test) = gk.data.load_arrays("fashion-mnist")
    """
    ds = load(name, seed, **{"val_fraction": 0.0, **options})
    train, test = ds.train, ds.test
    if hasattr(train, "dataset"):  # streamed: decode it whole
        from numpy import arange

        train, test = train.take(arange(len(train))), test.take(arange(len(test)))
    return (train.x.numpy(), train.y.numpy()), (test.x.numpy(), test.y.numpy())


# Importing the loaders registers their sets.
from gradkit.data import (adding, arrays, corpus, folder, images, series,  # noqa: E402,F401
                          tabular, text, text_hub)
from gradkit.data.forms import as_dataset, from_arrays, from_dataframe, from_torch  # noqa: E402

__all__ = ["DATASETS", "TARGETS", "Batches", "add", "DataSpec", "Dataset", "DatasetEntry", "Split",
           "StreamBatches", "StreamSplit", "as_dataset", "build", "from_arrays", "from_dataframe", "from_torch",
           "load", "load_arrays", "make_batches", "normalize", "register"]
