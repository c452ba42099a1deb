"""The client side: a Flower `ClientApp` whose train step is gradkit's own loop on one partition.

Flower runs the ClientApp in Ray actor processes. What it ships to them is small: the resolved
config and each client's partition indices. An actor builds the data set once from the config
(the same seed gives the same splits as the server's) and keeps it for every later message.
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np
import torch

from gradkit import config as C
from gradkit.data import Dataset

LOCAL_VAL = 256  # the loop evaluates after each epoch; a client gives it a few of its own examples
_CACHE: dict[str, tuple[C.RunConfig, Dataset]] = {}  # per actor process: config text -> data


class Proximal:
    """Wraps a task for FedProx (Li et al. 2020, eq. 2): each loss its `train_step` back-propagates
    gains (mu / 2) * ||w - w_global||², w_global being the weights the round started from."""

    def __init__(self, task, mu: float) -> None:
        self.task, self.mu = task, mu
        self.models = task.models
        self.anchor = {n: [p.detach().clone() for p in m.parameters()] for n, m in task.models.items()}

    def train_step(self, batch, step) -> dict[str, torch.Tensor]:
        def proximal_step(loss: torch.Tensor, name: str) -> None:
            params = self.models[name].parameters()
            drift = sum(((p - a) ** 2).sum() for p, a in zip(params, self.anchor[name]))
            step(loss + 0.5 * self.mu * drift, name)

        return self.task.train_step(batch, proximal_step)

    def eval_step(self, batch) -> None:
        self.task.eval_step(batch)

    def eval_end(self):
        return self.task.eval_end()


def client_seed(seed: int, server_round: int, client: int) -> int:
    """Round 1 of client 0 trains with the run's own seed: one client and one round then repeat
    the centralised run of the same epochs exactly (tests/test_federated.py)."""
    return seed + 1_000_003 * (server_round - 1) + 7919 * client


def local_config(cfg: C.RunConfig, seed: int) -> C.RunConfig:
    """The recipe's training settings for one client's local epochs: no lr schedule across a
    round (the server's rounds are the schedule), no early stopping, no time limit."""
    fc = cfg.federated
    train = cfg.train.model_copy(update={"epochs": fc.local_epochs, "patience": None,
                                         "time_limit": None, "unfreeze_at_epoch": None,
                                         "monitor": "val/loss", "threads": None})
    optim = cfg.optim.model_copy(update={"schedule": "none", "warmup_epochs": 0.0})
    return cfg.model_copy(update={"train": train, "optim": optim, "seed": seed})


def local_fit(cfg: C.RunConfig, data: Dataset, idx: np.ndarray, state: dict[str, torch.Tensor],
              server_round: int, client: int, mu: float = 0.0) -> tuple[dict, dict[str, float]]:
    """Train the recipe's model from `state` on the examples `idx` of `data.train` for
    `federated.local_epochs` with gradkit's loop; returns (new state dict, metrics)."""
    import gradkit.models
    import gradkit.tasks
    from gradkit.training import fit

    seed = client_seed(cfg.seed, server_round, client)
    torch.manual_seed(seed)
    model = gradkit.models.build(cfg.model, data.spec)
    model.load_state_dict(state)
    if cfg.train.channels_last:
        model.to(memory_format=torch.channels_last)
    task = gradkit.tasks.build(cfg.task, model, data.spec)
    if mu > 0:
        task = Proximal(task, mu)
    split = data.train.take(idx)
    shard = Dataset(data.name, data.spec, split, split.take(np.arange(min(LOCAL_VAL, len(split)))),
                    split.take(np.arange(0)), data.source)
    result = fit(task, shard, local_config(cfg, seed), verbose=False)
    last = result.history[-1]
    metrics = {"train_loss": float(last["train/loss"]), "num-examples": len(idx),
               "unit-weight": 1.0, "client": client, "seconds": float(result.train_seconds)}
    if "train/accuracy" in last:
        metrics["train_accuracy"] = float(last["train/accuracy"])
    return {k: v.contiguous() for k, v in model.state_dict().items()}, metrics  # channels_last


def _client_data(config: dict[str, Any]) -> tuple[C.RunConfig, Dataset]:
    """The validated config and its data set, built once per actor process."""
    key = json.dumps(config, sort_keys=True)
    if key not in _CACHE:
        from gradkit.engine import build_data, validate

        cfg = validate(config, "federated client")
        _CACHE.clear()  # one run at a time per process
        _CACHE[key] = (cfg, build_data(cfg))
    return _CACHE[key]


def make_client_app(config: dict[str, Any], parts: list[np.ndarray], threads: int = 1,
                    clip_on_client: bool = False):
    """A Flower `ClientApp` training partition `parts[partition-id]` on each train message.

    `clip_on_client` adds Flower's `fixedclipping_mod` (client-side clipping for
    `DifferentialPrivacyClientSideFixedClipping`).
    """
    from flwr.app import ArrayRecord, Message, MetricRecord, RecordDict
    from flwr.clientapp import ClientApp
    from flwr.clientapp.mod import fixedclipping_mod

    app = ClientApp(mods=[fixedclipping_mod] if clip_on_client else [])

    @app.train()
    def train(msg: Message, context) -> Message:
        torch.set_num_threads(threads)
        cfg, data = _client_data(config)
        client = int(context.node_config["partition-id"])
        conf = msg.content["config"]
        state, metrics = local_fit(cfg, data, parts[client], msg.content["arrays"].to_torch_state_dict(),
                                   int(conf["server-round"]), client, float(conf.get("proximal-mu", 0.0)))
        reply = RecordDict({"arrays": ArrayRecord(state), "metrics": MetricRecord(metrics)})
        return Message(content=reply, reply_to=msg)

    return app
