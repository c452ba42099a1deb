"""The server side: Flower's strategies aggregate; gradkit evaluates the global model after each
round (val and test, centrally), keeps best/last checkpoints and writes the round history.
"""
from __future__ import annotations

import logging
import math
import time
from typing import Any

import torch

from gradkit import config as C
from gradkit.data import Dataset, make_batches
from gradkit.errors import ConfigError, GradkitError, did_you_mean
from gradkit.rundir import RunDir
from gradkit import checkpoint
from gradkit.training import evaluate
from gradkit.training.loop import better

STRATEGIES = ("fedavg", "fedprox")


def sampled_clients(fc: C.FederatedConfig) -> int:
    """Clients Flower's FedAvg samples per round: int(clients x fraction), at least one."""
    return max(int(fc.clients * fc.fraction), 1)


def build_strategy(fc: C.FederatedConfig, aggregate_metrics):
    """Flower's FedAvg or FedProx, wrapped in its fixed-clipping DP strategy when asked.

    Clients evaluate nothing (fraction_evaluate=0): the server evaluates the global model on
    the held-out splits. With DP the average is unweighted ("unit-weight"): the noise
    std dp_noise·dp_clip/m assumes each of the m clipped updates moves the mean by at most
    dp_clip/m (McMahan et al. 2018, DP-FedAvg), which a size-weighted mean would break.
    """
    from flwr.serverapp.strategy import (DifferentialPrivacyClientSideFixedClipping,
                                         DifferentialPrivacyServerSideFixedClipping, FedAvg, FedProx)

    if fc.strategy not in STRATEGIES:  # validated by the config; a direct caller gets the same
        raise ConfigError(f"unknown strategy '{fc.strategy}'{did_you_mean(fc.strategy, STRATEGIES)}")
    dp = fc.dp_clip is not None
    common: dict[str, Any] = dict(
        fraction_train=fc.fraction, fraction_evaluate=0.0, min_train_nodes=1,
        min_evaluate_nodes=0, min_available_nodes=fc.clients,
        weighted_by_key="unit-weight" if dp else "num-examples",
        train_metrics_aggr_fn=aggregate_metrics)
    strategy = (FedProx(proximal_mu=fc.proximal_mu, **common) if fc.strategy == "fedprox"
                else FedAvg(**common))
    if not dp:
        return strategy
    wrapper = (DifferentialPrivacyServerSideFixedClipping if fc.dp_clipping == "server"
               else DifferentialPrivacyClientSideFixedClipping)
    return wrapper(strategy, noise_multiplier=fc.dp_noise, clipping_norm=fc.dp_clip,
                   num_sampled_clients=sampled_clients(fc))


def privacy_statement(fc: C.FederatedConfig) -> dict[str, Any] | None:
    """The DP parameters and the (epsilon, delta) they give, client-level, for the report.

    Accounting: Opacus's RDP accountant for `rounds` Gaussian mechanisms of noise multiplier
    dp_noise, with sampling rate 1: Flower samples a fixed number of clients without
    replacement, which the Poisson-subsampling bound does not cover, so no amplification is
    claimed (the figure is an upper bound).
    """
    if fc.dp_clip is None:
        return None
    m = sampled_clients(fc)
    out: dict[str, Any] = {"clipping": fc.dp_clipping, "clipping_norm": fc.dp_clip,
                           "noise_multiplier": fc.dp_noise, "sampled_clients": m,
                           "noise_std": fc.dp_noise * fc.dp_clip / m, "rounds": fc.rounds,
                           "delta": fc.dp_delta, "epsilon": None, "unit": "client-level"}
    if fc.dp_noise == 0:
        out["accountant"] = "no noise: clipping only, no privacy guarantee"
        return out
    try:
        from opacus.accountants.analysis.rdp import compute_rdp, get_privacy_spent
    except ImportError:
        out["accountant"] = "not computed: Opacus is missing (pip install 'gradkit[federated]')"
        return out
    orders = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 256))
    rdp = compute_rdp(q=1.0, noise_multiplier=fc.dp_noise, steps=fc.rounds, orders=orders)
    eps, _ = get_privacy_spent(orders=orders, rdp=rdp, delta=fc.dp_delta)
    out["epsilon"] = float(eps)
    out["accountant"] = "Opacus RDP, sampling rate 1 (no amplification by sampling claimed)"
    return out


class ClientErrors(logging.Handler):
    """Keeps the reasons Flower logs for failed client replies (it logs them and goes on)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.reasons: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if "Received error in reply" in text:
            self.reasons.append(text.split(":", 1)[-1].strip())


class GlobalModel:
    """Evaluates each round's global model (Flower's `evaluate_fn`), checkpoints it, and
    collects what the sampled clients reported (Flower's `train_metrics_aggr_fn`)."""

    def __init__(self, cfg: C.RunConfig, data: Dataset, task, run: RunDir, device: torch.device,
                 errors: ClientErrors, verbose: bool = True) -> None:
        self.cfg, self.data, self.task, self.run, self.device = cfg, data, task, run, device
        self.errors, self.verbose = errors, verbose
        tc = cfg.train
        val = data.val if len(data.val) else data.test
        self.val = make_batches(val, data.spec, tc.eval_batch_size, device, workers=cfg.data.workers)
        self.test = make_batches(data.test, data.spec, tc.eval_batch_size, device,
                                 workers=cfg.data.workers)
        self.history: list[dict[str, Any]] = []
        self.clients: list[dict[str, float]] = []
        self.best_value: float | None = None
        self.best_round: int | None = None
        self.start = time.perf_counter()

    def aggregate_metrics(self, records, weighted_by_key: str):
        """Flower's weighted mean, and each sampled client's own figures for the history."""
        from flwr.serverapp.strategy.strategy_utils import aggregate_metricrecords

        self.clients = [dict(next(iter(r.metric_records.values()))) for r in records]
        return aggregate_metricrecords(records, weighted_by_key)

    def evaluate(self, server_round: int, arrays):
        """Load `arrays` into the model, score val and test, checkpoint; a MetricRecord for Flower."""
        from flwr.app import MetricRecord

        model = self.task.model
        model.load_state_dict(arrays.to_torch_state_dict())
        record = self._record(server_round)
        state = {"epoch": server_round, "models": {"model": model.state_dict()},
                 "spec": self.data.spec.to_dict(), "config": self.cfg.to_dict(), "metrics": record}
        monitor = self.cfg.train.monitor
        value = record.get(monitor)
        if value is None and server_round > 0:
            keys = [k for k in record if k.startswith(("val/", "train/"))]
            raise ConfigError(f"train.monitor='{monitor}' is not a metric of a federated round"
                              f"{did_you_mean(monitor, keys)}; choose one of: {', '.join(keys)}")
        if value is not None and better(value, self.best_value, monitor):
            self.best_value, self.best_round = value, server_round
            checkpoint.save(self.run.best, state)
        checkpoint.save(self.run.last, state)
        self.history.append(record)
        self.run.write_metrics_history(self.history)
        if self.verbose:
            self._print(record)
        return MetricRecord({k.replace("/", "-"): v for k, v in record.items()
                             if isinstance(v, float) and k.startswith(("val/", "test/"))})

    def _record(self, server_round: int) -> dict[str, Any]:
        prec = self.cfg.train.precision
        val, _ = evaluate(self.task, self.val, self.device, prec)
        test, _ = evaluate(self.task, self.test, self.device, prec)
        record: dict[str, Any] = {"epoch": server_round, "round": server_round,
                                  "time": time.perf_counter() - self.start}
        record.update({f"val/{k}": v for k, v in val.items()})
        record.update({f"test/{k}": v for k, v in test.items()})
        if server_round == 0:
            return record
        if not self.clients:
            why = self.errors.reasons[-1] if self.errors.reasons else "no reply in time"
            raise GradkitError(f"no client finished federated round {server_round}: {why}")
        seen = sum(c["num-examples"] for c in self.clients)
        record["train/loss"] = sum(c["train_loss"] * c["num-examples"] for c in self.clients) / seen
        if all("train_accuracy" in c for c in self.clients):
            record["train/accuracy"] = sum(c["train_accuracy"] * c["num-examples"]
                                           for c in self.clients) / seen
        record["clients"] = sorted(int(c["client"]) for c in self.clients)
        record["client_examples"] = int(seen)
        record["client_seconds"] = max(float(c["seconds"]) for c in self.clients)
        self.clients = []
        return record

    def _print(self, record: dict[str, Any]) -> None:
        figures = "  ".join(f"{k} {record[k]:.4f}" for k in ("train/loss", "val/loss", "val/accuracy",
                                                              "test/accuracy") if k in record
                            and math.isfinite(record[k]))
        rounds = self.cfg.federated.rounds
        print(f"round {record['round']:>3}/{rounds}  {figures}  {record['time']:.0f} s", flush=True)
