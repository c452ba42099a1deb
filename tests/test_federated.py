"""gradkit federated: partitions, config errors, the client's FedProx term, and real Flower
simulations on Fashion-MNIST (FedAvg learns round over round; one client = centralised training)."""
from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import gradkit as gk
from conftest import needs_fashion
from gradkit import config as C
from gradkit import engine
from gradkit.cli import app
from gradkit.errors import ConfigError, GradkitError
from gradkit.federated.partition import label_counts, parse_partition, partition

needs_flower = pytest.mark.skipif(
    importlib.util.find_spec("flwr") is None or importlib.util.find_spec("ray") is None,
    reason="the federated extra is not installed: pip install 'gradkit[federated]'")
# a 5,400-image slice of Fashion-MNIST (600 validation images), the whole 10,000-image test split
SLICE = ["data.limit=6000", "output.explain=false", "federated.client_cpus=2"]  # one Ray actor


def _labels(n: int = 3000, classes: int = 10, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, classes, n)


@pytest.mark.parametrize("spec", ["iid", "dirichlet:0.3", "dirichlet:0.05", "shards:2"])
def test_partitions_are_disjoint_and_cover_the_data(spec):
    labels = _labels()
    parts = partition(labels, 10, spec, seed=1)
    joined = np.concatenate(parts)
    assert len(parts) == 10 and all(len(p) >= 10 for p in parts)
    assert len(joined) == len(labels) and len(np.unique(joined)) == len(labels)  # disjoint, covering
    assert np.array_equal(np.sort(joined), np.arange(len(labels)))
    assert label_counts(labels, parts, 10).sum() == len(labels)
    assert all(np.array_equal(a, b) for a, b in zip(parts, partition(labels, 10, spec, seed=1)))


def test_partitions_skew_labels_as_asked():
    labels = _labels(6000)
    classes_held = lambda spec: [(c > 0).sum() for c in label_counts(labels, partition(labels, 10, spec), 10)]
    assert min(classes_held("iid")) == 10
    sizes = [len(p) for p in partition(labels, 10, "iid")]
    assert max(sizes) - min(sizes) <= 1
    assert max(classes_held("shards:2")) <= 4  # 2 label-sorted shards: 2 classes, 3-4 at a boundary
    assert np.mean(classes_held("shards:2")) < 3
    # Dirichlet(0.1) concentrates each class on few clients; (100) spreads it almost evenly
    skewed = label_counts(labels, partition(labels, 10, "dirichlet:0.1"), 10)
    even = label_counts(labels, partition(labels, 10, "dirichlet:100"), 10)
    share = lambda counts: (counts.max(1) / counts.sum(1)).mean()  # a client's top class share
    assert share(skewed) > 0.5 > 0.2 > share(even)


@pytest.mark.parametrize("text, message", [
    ("dirichlett:0.3", "did you mean 'dirichlet'"), ("idd", "did you mean 'iid'"),
    ("shard:2", "did you mean 'shards'"), ("dirichlet:-1", "positive concentration"),
    ("dirichlet:x", "positive concentration"), ("shards:0", "whole number"),
    ("shards:1.5", "whole number"), ("iid:3", "takes no parameter")])
def test_bad_partition_strings_say_what_to_write(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_partition(text)


def test_partition_refuses_impossible_splits():
    with pytest.raises(ConfigError, match="too few"):
        partition(_labels(50), 10, "iid")
    with pytest.raises(ConfigError, match="fewer shards"):
        partition(_labels(200), 10, "shards:30")


def test_federated_config_errors_name_the_key_and_the_fix():
    with pytest.raises(ConfigError, match=r"federated.strategy: 'fedavgg' is not one of fedavg, "
                                          r"fedprox \(did you mean 'fedavg'\?\)"):
        engine.resolve("federated-fashion-mlp-iid", overrides=["federated.strategy=fedavgg"])
    with pytest.raises(ConfigError, match="did you mean 'dirichlet'"):
        engine.resolve("fashion-mlp", overrides=["federated.partition=dirichle:0.3"])
    with pytest.raises(ConfigError, match=r"unknown key 'federated.round' \(did you mean 'federated.rounds'"):
        engine.resolve("federated-fashion-mlp-iid", overrides=["federated.round=3"])
    with pytest.raises(ConfigError, match="needs both federated.dp_clip"):
        engine.resolve("federated-fashion-mlp-iid", overrides=["federated.dp_clip=1.0"])
    cfg = engine.resolve("federated-fashion-cnn-noniid")
    assert (cfg.federated.partition, cfg.federated.strategy) == ("dirichlet:0.3", "fedprox")
    assert engine.resolve("fashion-mlp").federated is None  # an ordinary recipe stays centralised


def test_cli_bad_strategy_and_missing_extra(monkeypatch):
    runner = CliRunner()
    out = runner.invoke(app, ["federated", "digits-mlp", "--strategy", "fedprx"])
    assert out.exit_code == 2 and "did you mean 'fedprox'" in " ".join(out.output.split())
    out = runner.invoke(app, ["federated", "digits-mlp", "--partition", "shards"])
    assert out.exit_code == 2 and "shards:2" in " ".join(out.output.split())
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "flwr" else real(name, *a))
    out = runner.invoke(app, ["federated", "digits-mlp", "--rounds", "1"])
    text = " ".join(out.output.split())
    assert out.exit_code == 2 and "flwr is not installed: pip install 'gradkit[federated]'" in text


def test_fedprox_term_pulls_local_weights_toward_the_global_model():
    """The client's own training, without Flower: a large mu keeps the weights near the start."""
    import gradkit.models
    from gradkit.data import build
    from gradkit.federated.client import local_fit

    cfg = engine.resolve("digits-mlp", overrides=["federated.local_epochs=2", "optim.lr=0.01"])
    data = build(cfg.data, "classes", 0)
    start = gradkit.models.build(cfg.model, data.spec).state_dict()
    idx = np.arange(300)
    drift = {}
    for mu in (0.0, 1.0):
        state, metrics = local_fit(cfg, data, idx, start, server_round=1, client=0, mu=mu)
        drift[mu] = sum(float(((state[k] - start[k]) ** 2).sum()) for k in start) ** 0.5
        assert metrics["num-examples"] == 300 and np.isfinite(metrics["train_loss"])
    assert drift[1.0] < 0.7 * drift[0.0]


@needs_flower
def test_strategies_are_flowers_and_privacy_is_accounted():
    from flwr.serverapp.strategy import (DifferentialPrivacyClientSideFixedClipping,
                                         DifferentialPrivacyServerSideFixedClipping, FedAvg, FedProx)

    from gradkit.federated.server import build_strategy, privacy_statement

    fed = lambda **kw: C.FederatedConfig(clients=10, fraction=0.3, rounds=20, **kw)
    plain = build_strategy(fed(), None)
    assert type(plain) is FedAvg and plain.weighted_by_key == "num-examples"
    assert plain.fraction_train == 0.3 and plain.fraction_evaluate == 0.0
    prox = build_strategy(fed(strategy="fedprox", proximal_mu=0.1), None)
    assert type(prox) is FedProx and prox.proximal_mu == 0.1
    dp = build_strategy(fed(dp_clip=2.0, dp_noise=1.0), None)
    assert type(dp) is DifferentialPrivacyServerSideFixedClipping and dp.num_sampled_clients == 3
    assert dp.strategy.weighted_by_key == "unit-weight"  # DP-FedAvg's unweighted mean
    assert type(build_strategy(fed(dp_clip=2.0, dp_noise=1.0, dp_clipping="client"), None)) is \
        DifferentialPrivacyClientSideFixedClipping
    eps = lambda **kw: privacy_statement(fed(dp_clip=1.0, **kw))["epsilon"]
    # more noise or fewer rounds spend less; 20 rounds at sigma 1 cost more than one
    assert eps(dp_noise=2.0) < eps(dp_noise=1.0) < eps(dp_noise=0.5)
    one = privacy_statement(C.FederatedConfig(clients=10, rounds=1, dp_clip=1.0, dp_noise=1.0))
    assert one["epsilon"] < eps(dp_noise=1.0)
    assert privacy_statement(fed(dp_clip=1.0, dp_noise=0.0))["epsilon"] is None


def _federated(tmp_path, name, *overrides):
    return gk.train("federated-fashion-mlp-iid", overrides=[*SLICE, *overrides],
                    out=tmp_path / name, verbose=False)


@pytest.mark.slow  # a Flower simulation: Ray and its actors start each time
@needs_fashion
@needs_flower
def test_fedavg_with_five_iid_clients_learns_round_over_round(tmp_path):
    from gradkit.engine import evaluate
    from gradkit.report import build_report

    run = _federated(tmp_path, "fedavg", "federated.clients=5", "federated.fraction=1.0",
                     "federated.rounds=4", "federated.baseline_epochs=0")
    rounds = [json.loads(line) for line in (run.dir / "metrics.jsonl").read_text().splitlines()]
    acc = [r["test/accuracy"] for r in rounds]
    assert [r["round"] for r in rounds] == [0, 1, 2, 3, 4]
    assert all(r["clients"] == [0, 1, 2, 3, 4] for r in rounds[1:])
    assert acc[0] < 0.3 and acc[1] > 0.6  # from chance to a useful model in one round
    assert all(b > a - 0.01 for a, b in zip(acc[1:], acc[2:]))  # improves round over round
    assert acc[4] > acc[1] + 0.03 and acc[4] > 0.78
    m = run.metrics
    assert m["federated/round1_test_accuracy"] == acc[1] and "baseline/centralised/accuracy" not in m
    # the best global checkpoint is an ordinary gradkit checkpoint: evaluate reads it back
    assert evaluate(run.dir)["test/accuracy"] == pytest.approx(m["test/accuracy"], abs=1e-6)
    html = build_report(run.dir).read_text()
    assert "Federated learning" in html and "Training examples of each class held by each client" in html
    assert "Rounds completed / configured" in html and "Epochs completed" not in html
    assert "train.epochs=" not in html  # diagnostics suggest federated.rounds, not epochs


@pytest.mark.slow  # a Flower simulation: Ray and its actors start each time
@needs_fashion
@needs_flower
def test_one_client_with_full_participation_is_centralised_training(tmp_path):
    """One client, one round of 2 local epochs = 2 centralised epochs from the same seed: the
    same initial weights, batches and optimiser, so (up to float summation order: the client
    computes in a 1-thread Ray actor) the same final weights and test accuracy."""
    from gradkit import checkpoint

    run = _federated(tmp_path, "one", "federated.clients=1", "federated.fraction=1.0",
                     "output.report=false", "federated.rounds=1", "federated.local_epochs=2")
    assert run.metrics["baseline/centralised/epochs"] == 2
    assert run.metrics["baseline/centralised/accuracy"] > 0.75  # the baseline is a real run
    fed = checkpoint.load(run.dir / "checkpoints" / "last.pt")["models"]["model"]
    central = checkpoint.load(run.dir / "baseline" / "checkpoints" / "last.pt")["models"]["model"]
    for key in central:
        torch.testing.assert_close(fed[key], central[key], rtol=1e-4, atol=1e-5)
    assert run.metrics["test/accuracy"] == pytest.approx(run.metrics["baseline/centralised/accuracy"], abs=1e-3)


@pytest.mark.slow  # a Flower simulation: Ray and its actors start each time
@needs_fashion
@needs_flower
def test_fedprox_with_differential_privacy_states_its_guarantee(tmp_path):
    run = _federated(tmp_path, "dp", "federated.clients=4", "federated.fraction=0.5",
                     "federated.rounds=2", "federated.strategy=fedprox",
                     "federated.partition=shards:2", "federated.dp_clip=1.0",
                     "federated.dp_noise=0.3", "federated.dp_clipping=client",
                     "federated.baseline_epochs=0", "output.report=false")
    info = json.loads((run.dir / "artifacts" / "federated.json").read_text())
    privacy = info["privacy"]
    assert privacy["sampled_clients"] == 2 and privacy["noise_std"] == pytest.approx(0.15)
    assert privacy["clipping"] == "client"  # Flower's fixedclipping_mod on each client
    assert privacy["epsilon"] == pytest.approx(run.metrics["federated/epsilon"]) and privacy["epsilon"] > 1
    assert "baseline/centralised/accuracy" not in run.metrics
    assert np.array(info["label_counts"]).astype(bool).sum(1).max() <= 4  # 2 shards: few classes
    with pytest.raises(GradkitError, match="cannot be resumed"):
        gk.resume(run.dir)
