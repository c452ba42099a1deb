"""Per-layer gradient norms (`output.grad_norms=true`): how much gradient reaches each layer.

Every `output.grad_norms_every` optimiser steps (step 0, before the first update, included),
the L2 norm of each layer's gradient (a layer: a module that owns parameters directly, e.g. a
Linear's weight and bias together), measured after backward and before clipping, in true
(unscaled) units. The records live in the training state (so a resumed run keeps them) and in
`artifacts/grad_norms.json`; the report plots them by depth and over steps. The vanishing
gradients of deep sigmoid networks show up as norms falling by orders of magnitude towards
the input (`lesson-activations`).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

ARTIFACT = "artifacts/grad_norms.json"


def layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) for every module holding trainable parameters of its own, input first."""
    out = []
    for name, module in model.named_modules():
        if any(p.requires_grad for p in module.parameters(recurse=False)):
            out.append((name or type(module).__name__, module))
    return out


class GradNorms:
    """Records per-layer gradient norms of the models a task trains, every `every` steps."""

    def __init__(self, models: dict[str, nn.Module], every: int,
                 records: list[dict[str, Any]] | None = None) -> None:
        self.every = every
        self.layers = {name: layers(model) for name, model in models.items()}
        self.records: list[dict[str, Any]] = list(records or [])

    def due(self, step: int) -> bool:
        return step % self.every == 0

    @torch.no_grad()
    def record(self, name: str, step: int, epoch: int) -> None:
        """Read the gradients of model `name` now (one device sync per record, not per step)."""
        layers = self.layers.get(name) or [l for v in self.layers.values() for l in v]
        norms = []
        for _, module in layers:
            grads = [p.grad.detach().float().flatten() for p in module.parameters(recurse=False)
                     if p.grad is not None]
            norms.append(torch.linalg.vector_norm(torch.cat(grads)) if grads
                         else torch.zeros((), device=next(module.parameters()).device))
        values = torch.stack(norms).cpu().tolist() if norms else []
        self.records.append({"model": name, "step": step, "epoch": epoch, "norms": values})

    def summary(self) -> dict[str, Any]:
        """What artifacts/grad_norms.json holds: the layers of each model and the records."""
        return {"every": self.every,
                "layers": {name: [f"{n} ({type(m).__name__})" for n, m in ls]
                           for name, ls in self.layers.items()},
                "records": self.records}
