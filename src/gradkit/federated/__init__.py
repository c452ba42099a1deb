"""Federated learning on Flower's simulation runtime: `gradkit federated RECIPE`.

The data stays with the clients: each simulated client (a Flower ClientApp in a Ray actor)
trains the recipe's own model, task and loop (`gradkit.training.fit`) on its partition of the
training split; Flower's FedAvg or FedProx strategy (optionally wrapped in its fixed-clipping
differential-privacy strategy) aggregates; the server evaluates each round's global model.

    gradkit federated federated-fashion-mlp-iid
    gradkit federated fashion-mlp --clients 10 --rounds 20 --partition dirichlet:0.3

    import gradkit as gk
    run = gk.train("federated-fashion-mlp-iid", federated={"rounds": 5})

Pieces: partition.py (iid, dirichlet, shards), client.py (the ClientApp), server.py (strategy,
evaluation, checkpoints, privacy statement), simulation.py (one run). Needs the `federated`
extra (flwr, ray, opacus); this package imports none of them until a run starts.
"""
from __future__ import annotations

from typing import Any


def run_federated(cfg: Any, verbose: bool = True) -> Any:
    """Run a resolved config that has a `federated:` section; see `simulation.run_federated`."""
    from gradkit.federated.simulation import run_federated as run

    return run(cfg, verbose=verbose)


__all__ = ["run_federated"]
