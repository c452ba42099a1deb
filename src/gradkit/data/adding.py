"""The adding problem: a long-memory regression task (Hochreiter & Schmidhuber 1997, experiment 4).

Each example is a sequence of T steps with two input channels:

    channel 0  values     uniform in [0, 1]                          0.31 0.77 0.05 ... 0.62 0.18
    channel 1  markers    1 at exactly two steps, 0 elsewhere        0    1    0    ...  1    0
    target     the sum of the two marked values                      0.77 + 0.62 = 1.39

One marker lies in the first half (steps 0..T//2-1), the other in the second (T//2..T-1),
as in Le et al. 2015 ("IRNN") and Arjovsky et al. 2016 ("uRNN"). So the first marked value
must be carried for T/2 steps on average, which is what a plain tanh RNN's vanishing gradient
prevents and an LSTM's additive cell state allows.

Predicting the mean (1.0) scores MSE = Var(U1 + U2) = 2/12 = 1/6 ~ 0.167: anything learnt must
get under that. The inputs are fed raw, as in the papers (the values already lie in [0, 1] and the
marker is an indicator): `spec.mean`/`std` are 0 and 1, so `normalize` leaves them unchanged.
Each split is generated from its own stream of the run's seed, so no sequence is shared between
train, val and test, and the same seed always gives the same sequences.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from gradkit.data import register
from gradkit.data.base import DataSpec, Dataset, Split
from gradkit.errors import DataError

TRIVIAL_MSE = 1.0 / 6.0  # Var(U1 + U2) for two independent U(0, 1): the predict-the-mean MSE
STREAMS = {"train": 0, "val": 1, "test": 2}  # one random stream per split


def adding_sequences(n: int, length: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n adding-problem examples: inputs (n, length, 2) float32, targets (n,) float32."""
    half = length // 2
    values = rng.random((n, length))  # (n, T) uniform in [0, 1)
    first = rng.integers(0, half, size=n)  # (n,) a step in the first half
    second = rng.integers(half, length, size=n)  # (n,) a step in the second half
    markers = np.zeros((n, length))
    rows = np.arange(n)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    target = values[rows, first] + values[rows, second]  # (n,) in [0, 2)
    x = np.stack([values, markers], axis=-1).astype(np.float32)  # (n, T, 2)
    return torch.from_numpy(x), torch.from_numpy(target.astype(np.float32))


def split_counts(samples: int, val_fraction: float, test_fraction: float) -> dict[str, int]:
    """Examples per split: `samples` in all, val and test rounded up, the rest for training."""
    n_test = math.ceil(round(test_fraction * samples, 6))
    n_val = math.ceil(round(val_fraction * samples, 6))
    return {"train": samples - n_val - n_test, "val": n_val, "test": n_test}


@register("adding", "values", "the adding problem: sum the 2 marked values of a long sequence "
          "(data.length, data.samples)")
def _adding(cfg: Any, targets: str, seed: int) -> Dataset:
    return load_adding(cfg, seed)


def load_adding(cfg: Any, seed: int) -> Dataset:
    """The adding problem with `cfg.length` steps and `cfg.samples` sequences, from `seed`."""
    if cfg.length < 2:
        raise DataError(f"data.length={cfg.length}: the adding problem needs at least 2 steps "
                        "(one marker in each half)")
    if cfg.limit is not None:
        raise DataError("data.limit does not apply to the generated adding problem; set "
                        "data.samples (sequences in all, split by data.val_fraction and "
                        "data.test_fraction)")
    counts = split_counts(cfg.samples, cfg.val_fraction, cfg.test_fraction)
    if counts["train"] < 1 or counts["test"] < 1:
        raise DataError(f"data.samples={cfg.samples} leaves {counts['train']} training and "
                        f"{counts['test']} test sequences; raise data.samples")
    splits = {}
    for name, n in counts.items():
        rng = np.random.default_rng([seed, STREAMS[name]])  # independent streams, one per split
        splits[name] = Split(*adding_sequences(n, cfg.length, rng))
    train_y = splits["train"].y.double()
    spec = DataSpec("regression", "series", (cfg.length, 2), feature_names=["value", "marker"],
                    mean=[0.0, 0.0], std=[1.0, 1.0], target_mean=float(train_y.mean()),
                    target_std=float(train_y.std().clamp_min(1e-6)) if len(train_y) > 1 else 1.0)
    notes = [f"{cfg.length}-step sequences generated from seed {seed}: "
             + ", ".join(f"{name} {n:,}" for name, n in counts.items())
             + f"; predicting the mean scores MSE 1/6 = {TRIVIAL_MSE:.3f} in expectation"]
    return Dataset("adding", spec, splits["train"], splits["val"], splits["test"],
                   "generated (Hochreiter & Schmidhuber 1997)", notes)
