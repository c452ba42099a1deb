"""`artifacts/samples.npz`: test examples with their predictions, for the report.

    classifiers   x, y, pred, prob (and text) of `output.samples` test examples, about half of
                  them misclassified when there are any
    value tasks   y and pred of every test example: (N,) values or (N, horizon) forecasts, and a
                  series' time labels (the report's axis)
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gradkit.rundir import save_npz
from gradkit.training import predict_split


@torch.inference_mode()
def write_classified(task: Any, end: Any) -> None:
    """A classifier's examples; `end.test_pred`, the test pass's predicted classes, saves a second
    pass over the test split: only the examples shown are run again, for their probabilities."""
    data, cfg = end.data, end.cfg
    y = data.test.y
    pred = end.test_pred
    if pred is None or len(pred) != len(y):
        pred = predict_split(task, data.test, data.spec, cfg.train.eval_batch_size, end.device,
                             cfg.data.workers).argmax(1)
    wrong = torch.nonzero(pred != y).flatten()
    right = torch.nonzero(pred == y).flatten()
    n = cfg.output.samples
    half = min(len(wrong), n // 2)
    idx = torch.cat([wrong[:half], right[: n - half]]).sort().values
    shown = data.test.take(idx)  # decodes only these when the test split is streamed
    prob = predict_split(task, shown, data.spec, cfg.train.eval_batch_size, end.device)
    text = {} if shown.text is None else {"text": np.array(shown.text, dtype=str)}
    save_npz(end.run.path / "artifacts" / "samples.npz", x=shown.x.numpy(), y=shown.y.numpy(),
             pred=pred[idx].numpy(), prob=prob.numpy(), **text)


@torch.inference_mode()
def write_values(task: Any, end: Any) -> None:
    """Every test example's target and prediction, in the targets' own units."""
    data, cfg = end.data, end.cfg
    out = predict_split(task, data.test, data.spec, cfg.train.eval_batch_size, end.device,
                        cfg.data.workers)
    time = getattr(data.test, "time", None)  # a series' time labels, for the report's axis
    extra = {} if time is None else {"time": np.asarray(time)}
    save_npz(end.run.path / "artifacts" / "samples.npz", y=data.test.y.numpy(), pred=out.numpy(),
             **extra)
