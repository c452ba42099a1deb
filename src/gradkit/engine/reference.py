"""The classifier whose features score a generative run (FID, the class histogram): the user's
run (`task.fid_classifier`), or one trained on first need per data set and cached.

    $GRADKIT_CACHE/classifiers/<dataset>/<recipe>-<hash of its overrides>/   (else ~/.cache/gradkit)

Concurrent callers wait on a file lock instead of training twice; a cached run that did not
finish (no test accuracy, no best checkpoint) is trained again. The FID itself is
`gradkit.metrics.fid`'s.
"""
from __future__ import annotations

import hashlib
import json
import math
import shutil
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gradkit.errors import ConfigError, did_you_mean
from gradkit.metrics.fid import check_image_classifier

# The classifier trained on first need, per data set: (recipe, overrides). fashion-cnn with half
# its channels for 3 of its 10 epochs: test accuracy 0.9048 after 16.3 s of training (22.8 s in
# all) on an idle 2-core CPU with native bf16 (the full recipe: 0.9285 in 81 s); on a machine
# loaded 3x over, training took 483 s. digits-cnn takes seconds.
REFERENCE_RECIPES: dict[str, tuple[str, list[str]]] = {
    "fashion-mnist": ("fashion-cnn", ["train.epochs=3", "model.channels=[16,32]"]),
    "mnist": ("mnist-cnn", ["train.precision=auto"]),  # not measured: MNIST is not on our machine
    "digits": ("digits-cnn", []),
}


def for_fid(dataset: str, run_dir: str | Path | None = None, device: Any = "cpu",
            verbose: bool = True) -> tuple[ReferenceClassifier, Any]:
    """(the classifier's record, the loaded classifier run on `device`) for `dataset`'s FID:
    what a generative task's artifacts get (`gradkit.artifacts.Ending.fid_classifier`)."""
    from gradkit.engine.reload import load

    ref = reference_classifier(dataset, run_dir, verbose=verbose)
    return ref, load(ref.dir, device=str(device))


@dataclass(frozen=True)
class ReferenceClassifier:
    """The classifier whose features score a data set's samples, as a report names it."""

    dir: Path  # its run directory: `gradkit.load(dir)`, its report.html
    dataset: str
    test_accuracy: float
    recipe: str | None  # the recipe it was trained with; None for a run the user passed
    overrides: tuple[str, ...] = ()
    trained_now: bool = False  # trained by this call (False: reused from the cache or the user's)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "dir": str(self.dir), "overrides": list(self.overrides)}


def classifier_cache(dataset: str) -> Path:
    """`$GRADKIT_CACHE/classifiers/<dataset>`, else `~/.cache/gradkit/classifiers/<dataset>`."""
    from gradkit.data.resolve import computed_cache

    return computed_cache() / "classifiers" / dataset


def reference_classifier(dataset: str, run_dir: str | Path | None = None, *,
                         overrides: list[str] | None = None, verbose: bool = True
                         ) -> ReferenceClassifier:
    """The classifier for `dataset`'s FID: the user's `run_dir`, else one trained once and cached.

    The cached run lives in `classifier_cache(dataset)/<recipe>-<hash of the overrides>`;
    `overrides` (added to the data set's defaults in `REFERENCE_RECIPES`) select another one,
    e.g. a small slice for tests. Concurrent callers wait on a file lock instead of training twice.

    >>> ref = reference_classifier("fashion-mnist")   # first call: trains fashion-cnn, 3 epochs
    >>> ref.dir, ref.test_accuracy
    """
    if run_dir is not None:
        return _users_classifier(dataset, Path(run_dir))
    if dataset not in REFERENCE_RECIPES:
        raise ConfigError(f"no reference classifier for data set '{dataset}'"
                          f"{did_you_mean(dataset, REFERENCE_RECIPES)}; known: "
                          f"{', '.join(REFERENCE_RECIPES)}; or pass the run directory of an image "
                          "classifier trained on it")
    recipe, defaults = REFERENCE_RECIPES[dataset]
    extra = tuple([*defaults, *(overrides or [])])
    key = hashlib.sha1(json.dumps([recipe, extra]).encode()).hexdigest()[:8]
    path = classifier_cache(dataset) / f"{recipe}-{key}"
    with _lock(path.with_name(path.name + ".lock")):
        trained_now = not _completed(path)
        if trained_now:
            _train_reference(recipe, extra, path, dataset, verbose)
    metrics = json.loads((path / "metrics.json").read_text())
    ref = ReferenceClassifier(path, dataset, metrics["test/accuracy"], recipe, extra, trained_now)
    if trained_now and verbose:
        print(f"gradkit: reference classifier {path}: test accuracy {ref.test_accuracy:.4f}",
              flush=True)
    return ref


def _users_classifier(dataset: str, path: Path) -> ReferenceClassifier:
    from gradkit.engine.reload import load

    run = load(path)
    check_image_classifier(run, path)
    if run.config.data.name != dataset:
        raise ConfigError(f"{path} classifies '{run.config.data.name}', not '{dataset}': its "
                          "features would not describe these images")
    return ReferenceClassifier(path, dataset, float(run.metrics.get("test/accuracy", math.nan)), None)


def _completed(path: Path) -> bool:
    try:
        info = json.loads((path / "run.json").read_text())
        metrics = json.loads((path / "metrics.json").read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return (info.get("status") in ("completed", "stopped_early") and "test/accuracy" in metrics
            and (path / "checkpoints" / "best.pt").is_file())


def _train_reference(recipe: str, overrides: tuple[str, ...], path: Path, dataset: str,
                     verbose: bool) -> None:
    from gradkit.config import deep_merge, parse_overrides
    from gradkit.engine.configs import resolve
    from gradkit.engine.supervised import run_supervised

    if path.exists():  # an interrupted earlier attempt: ours to replace
        shutil.rmtree(path)
    if verbose:
        print(f"gradkit: training the reference classifier for {dataset} FID once: {recipe} "
              f"{' '.join(overrides)} -> {path}", flush=True)
    extra = deep_merge(parse_overrides(list(overrides)), {"output": {"run_dir": str(path)}})
    run_supervised(resolve(recipe, overrides=extra), verbose=verbose)


@contextmanager
def _lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: no lock; two first callers would each train
        yield
        return
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# --- the floor and the report's figures --------------------------------------------------------
