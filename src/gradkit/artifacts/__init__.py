"""What a finished run leaves in `artifacts/` for its report and its user, written by the task
that trained it (`Task.write_artifacts`, gradkit.tasks): the engine hands the task an `Ending`
and never asks which task it is.

    samples.py       test examples with their predictions (classifiers: half of them wrong;
                     value tasks: every test example)
    inspection.py    a classifier's top confusions and a Transformer's attention maps
    explanations.py  a few test predictions explained through Captum (attribution.py: methods)
    images.py        generative runs: sample grids per epoch, reconstructions, latent codes,
                     interpolations, samples, FID
    text.py          a language model's continuations of test-text prompts

Artifacts are extras: the ones a report can do without catch their own failures, print them and
let the run finish.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from gradkit.rundir import Phases


@dataclass
class Ending:
    """A finished run, as its task's `write_artifacts` gets it (the best checkpoint is loaded and
    every module is in eval mode)."""

    data: Any  # the run's gradkit Dataset
    cfg: Any  # its RunConfig
    run: Any  # its RunDir
    device: torch.device
    test_pred: torch.Tensor | None = None  # a classifier's predicted classes, in test-split order
    verbose: bool = False
    # (data set name, task.fid_classifier, device) -> (its record, the loaded classifier run): the
    # engine's (gradkit.engine.reference), for the FID of generative runs
    fid_classifier: Callable[[str, str | None, Any], tuple[Any, Any]] | None = None
    phases: Phases = field(default_factory=Phases)  # where the run's time goes (run.json `phases`)


__all__ = ["Ending"]
