"""Frozen parts of a model, for transfer learning (`model.freeze`, `train.unfreeze_at_epoch`).

A frozen module's parameters get `requires_grad=False`: autograd computes no gradient for them
and, when they sit at the input end, does not back-propagate through them at all. They stay in
the optimiser (`training.optim.param_groups` always includes a model's
`backbone_parameters()`), whose step skips parameters without a gradient, so unfreezing needs
no new optimiser. A frozen module also runs in eval mode, even while the model trains: its
batch norm normalises with, and keeps, its pretrained running statistics (in train mode it
would overwrite them with the new data's while its weights stay fixed, the classic pitfall of
"frozen" backbones) and its dropout is off.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

from torch import nn


@runtime_checkable
class Transferable(Protocol):
    """A model with a pretrained part: what the loop and the optimiser builder look for."""

    frozen: Frozen

    def backbone_parameters(self) -> Iterator[nn.Parameter]:
        """The pretrained part's parameters (`optim.backbone_lr_mult` scales their lr)."""

    def unfreeze(self) -> None:
        """Make every frozen part trainable (`train.unfreeze_at_epoch`); idempotent."""


class Frozen:
    """The frozen modules of one model. Its `train()` calls `hold()` after its own.

    >>> model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    >>> frozen = Frozen([model[0], model[1]])
    >>> model.train(); frozen.hold(); model[1].training, model[0].weight.requires_grad
    (False, False)
    """

    def __init__(self, modules: Sequence[nn.Module] = ()) -> None:
        self.modules = list(modules)
        for module in self.modules:
            module.requires_grad_(False)

    def __bool__(self) -> bool:
        return bool(self.modules)

    def hold(self) -> None:
        for module in self.modules:
            module.eval()

    def release(self) -> None:
        for module in self.modules:
            module.requires_grad_(True)
        self.modules = []
