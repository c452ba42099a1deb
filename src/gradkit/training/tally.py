"""Training metrics of an epoch: sample-weighted means of what `train_step` returns, summed
over the ranks of a distributed run; and the windows that feed callbacks' `on_steps`."""
from __future__ import annotations

import torch

from gradkit.training.distributed import Dist


class Tally:
    """Sample-weighted means of the per-batch outputs of `train_step`.

    Steps only append their (detached) tensors; they are added up when someone asks, in one
    stack per metric. On small models a few tensor ops of bookkeeping per step would otherwise
    cost a tenth of the epoch, and on a GPU reading them every step would sync the device.
    """

    def __init__(self) -> None:
        self.pending: dict[str, list[torch.Tensor]] = {}
        self.sizes: list[int] = []
        self.totals: dict[str, float] = {}
        self.seen = 0

    def add(self, out: dict[str, torch.Tensor], n: int) -> None:
        for k, v in out.items():
            self.pending.setdefault(k, []).append(v.detach())
        self.sizes.append(n)
        self.seen += n

    def reduce(self, dist: Dist) -> None:
        """Totals and count summed over the ranks, so `means` weighs every example once."""
        self.means()
        keys = sorted(self.totals)
        sums = dist.sum([self.totals[k] for k in keys] + [float(self.seen)])
        self.totals, self.seen = dict(zip(keys, sums)), int(sums[-1])

    def means(self) -> dict[str, float]:
        if self.sizes:
            weights = torch.tensor(self.sizes, dtype=torch.float64)
            for k, values in self.pending.items():
                total = (torch.stack(values).double().cpu() * weights).sum()
                self.totals[k] = self.totals.get(k, 0.0) + float(total)
            self.pending, self.sizes = {}, []
        return {k: v / max(self.seen, 1) for k, v in self.totals.items()}


class StepListener:
    """Feeds one callback's `on_steps` with the means of its last `every_steps` steps."""

    def __init__(self, callback, step: int) -> None:
        self.callback, self.every = callback, int(callback.every_steps)
        self.due = (step // self.every + 1) * self.every  # the next multiple of `every`
        self.window = Tally()

    def add(self, out: dict[str, torch.Tensor], n: int, step: int) -> None:
        self.window.add(out, n)
        if step >= self.due:  # >=: a GAN's batch takes two steps at once
            self.callback.on_steps(step, self.window.means())
            self.window = Tally()
            self.due = (step // self.every + 1) * self.every
