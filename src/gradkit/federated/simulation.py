"""One federated run: partitions, Flower's simulation runtime, the global model's round history,
the final metrics of its best checkpoint and the centralised baseline of the same recipe.

    run_dir/
      config.yaml, run.json, env.json     as any run (config.yaml holds the federated: section)
      metrics.jsonl                       one line per round (round 0: the initial model)
      metrics.json                        test/* of the best global model, baseline/*, federated/*
      checkpoints/best.pt, last.pt        global models (gradkit evaluate / predict read them)
      artifacts/federated.json            partition, per-client label counts, privacy statement
      baseline/                           the centralised run (same recipe, same data passes)
      report.html
"""
from __future__ import annotations

import logging
import math
import os
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from gradkit import config as C
from gradkit.errors import ConfigError, GradkitError
from gradkit.federated.partition import label_counts, partition
from gradkit.federated.server import ClientErrors, GlobalModel, privacy_statement, sampled_clients
from gradkit.rundir import RunDir

RAY_OBJECT_STORE_BYTES = 300 * 1024**2  # model weights in flight; Ray's default takes 30% of RAM


def require_flower() -> None:
    """A clear error when the `federated` extra is missing (Flower, Ray)."""
    import importlib.util

    missing = [m for m in ("flwr", "ray") if importlib.util.find_spec(m) is None]
    if missing:
        raise GradkitError(f"gradkit federated runs on Flower's simulation runtime, and "
                           f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not "
                           "installed: pip install 'gradkit[federated]'")
    # Flower and Ray report usage over the network unless told not to; honour a user's choice.
    os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")  # clients ask for no GPU


def baseline_epochs(fc: C.FederatedConfig) -> int:
    """Epochs of the centralised baseline: as many passes over the training data as the
    federation made (each round, the sampled fraction trains local_epochs)."""
    if fc.baseline_epochs is not None:
        return fc.baseline_epochs
    passes = fc.rounds * local_share(fc) * fc.local_epochs
    return max(1, math.ceil(passes - 1e-9))


def local_share(fc: C.FederatedConfig) -> float:
    return sampled_clients(fc) / fc.clients


def run_federated(cfg: C.RunConfig, verbose: bool = True):
    """Train `cfg` (with its `federated:` section) on Flower's simulation runtime; a `Run`.

    >>> cfg = resolve("federated-fashion-mlp-iid", overrides=["federated.rounds=5"])
    >>> run = run_federated(cfg)       # doctest: +SKIP
    >>> run.metrics["test/accuracy"], run.metrics["baseline/centralised/accuracy"]  # doctest: +SKIP
    """
    from gradkit.engine import build, lifecycle
    from gradkit.engine.builder import task_class

    require_flower()
    fc = cfg.federated
    if fc is None or cfg.rl or cfg.variants or cfg.seeds is not None:
        raise ConfigError("a federated run needs a federated: section and no rl:, variants: or seeds:")
    if task_class(cfg).outputs != "classes":
        raise ConfigError(f"gradkit federated deals data out to clients by class label: it needs a "
                          f"classification recipe, not task {cfg.task.name}")
    # the initial weights are a plain run's (and the baseline's): the same seed, the same build
    built = build(cfg, distributed=False)
    data, model, task, device = built.data, built.model, built.task, built.device
    model.to(memory_format=torch.contiguous_format)  # the global weights travel as plain arrays
    if fc.dp_clip is not None and any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
                                      for m in model.modules()):
        raise ConfigError("differential privacy adds noise to every array of the model, and noise "
                          "on batch-norm running variances can make them negative: use a model "
                          "without batch norm (e.g. model.batch_norm=false)")
    labels = data.train.y.numpy()
    parts = partition(labels, fc.clients, fc.partition, cfg.seed)
    run = _create_run(cfg, data, model, device, labels, parts)
    if verbose:
        print(f"gradkit: federated {cfg.name}: {fc.clients} clients ({fc.partition}), "
              f"{sampled_clients(fc)} per round, {fc.rounds} rounds of {fc.local_epochs} local "
              f"epoch(s), {fc.strategy}; run directory {run.path}", flush=True)
    errors = ClientErrors()
    server = GlobalModel(cfg, data, task, run, device, errors, verbose)
    try:
        with lifecycle.failing(run), _flower_logs(errors, verbose):
            _simulate(cfg, parts, server)
    except BaseException as exc:
        if isinstance(exc, (GradkitError, KeyboardInterrupt)):
            raise
        raise GradkitError(f"the Flower simulation failed ({type(exc).__name__}: {exc})\n"
                           f"  Run directory: {run.path}") from exc
    return _finish(cfg, data, task, run, device, server, verbose)


def _create_run(cfg: C.RunConfig, data, model, device, labels: np.ndarray,
                parts: list[np.ndarray]) -> RunDir:
    from gradkit.engine import lifecycle
    from gradkit.training.loop import resolve_precision

    fc = cfg.federated
    run = lifecycle.create(cfg, device)
    counts = label_counts(labels, parts, data.spec.num_classes)
    run.write_json("artifacts/federated.json", {
        "partition": fc.partition, "clients": fc.clients, "sampled_clients": sampled_clients(fc),
        "strategy": fc.strategy, "proximal_mu": fc.proximal_mu if fc.strategy == "fedprox" else None,
        "rounds": fc.rounds, "local_epochs": fc.local_epochs, "label_counts": counts.tolist(),
        "class_names": data.spec.class_names, "privacy": privacy_statement(fc),
        "runtime": _versions()})
    lifecycle.start(run, cfg, spec=data.spec.summary(), custom_model=False,
                    n_params=sum(p.numel() for p in model.parameters()), device=str(device),
                    precision=resolve_precision(cfg.train.precision, torch.device("cpu")),
                    monitor=cfg.train.monitor, data_source=data.source, data_notes=data.notes,
                    federated=True,
                    samples={"train": len(data.train), "val": len(data.val), "test": len(data.test)})
    return run


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    return {"flwr": version("flwr"), "ray": version("ray")}


@contextmanager
def _flower_logs(errors: ClientErrors, verbose: bool):
    """Collect failed clients' reasons; keep Flower's per-round INFO lines off the console
    (gradkit prints one line per round), warnings and errors stay."""
    import flwr  # noqa: F401  (sets up Flower's console handler, which is quietened here)

    logger = logging.getLogger("flwr")
    level = logger.level
    logger.addHandler(errors)
    quiet = [h for h in logger.handlers if h is not errors]
    old = [h.level for h in quiet]
    for h in quiet:
        h.setLevel(logging.WARNING if verbose else logging.ERROR)
        h.addFilter(_known_warnings)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(errors)
        logger.setLevel(level)
        for h, lvl in zip(quiet, old):
            h.setLevel(lvl)
            h.removeFilter(_known_warnings)


def _known_warnings(record: logging.LogRecord) -> bool:
    """Drop two warnings about choices made here: `run_simulation` is the Python entry to the
    simulation runtime (`flwr run` needs a packaged Flower app), and clients evaluate nothing
    because the server evaluates the global model on the held-out splits."""
    text = record.getMessage()
    return not ("`run_simulation` function is deprecated" in text
                or "fraction_evaluate is set to 0.0" in text)


def _simulate(cfg: C.RunConfig, parts: list[np.ndarray], server: GlobalModel) -> None:
    """Flower's simulation runtime: a ServerApp running the strategy with gradkit's evaluation,
    and one ClientApp per partition, executed by Ray actors (client_cpus CPUs each)."""
    from flwr.app import ArrayRecord, ConfigRecord
    from flwr.serverapp import ServerApp
    from flwr.simulation import run_simulation

    from gradkit.federated.client import make_client_app
    from gradkit.federated.server import build_strategy

    fc = cfg.federated
    clip_on_client = fc.dp_clip is not None and fc.dp_clipping == "client"
    client_app = make_client_app(cfg.to_dict(), parts, max(1, int(fc.client_cpus)), clip_on_client)
    server_app = ServerApp()

    @server_app.main()
    def main(grid, context) -> None:
        strategy = build_strategy(fc, server.aggregate_metrics)
        strategy.start(grid=grid, initial_arrays=ArrayRecord(server.task.model.state_dict()),
                       num_rounds=fc.rounds, train_config=ConfigRecord(),
                       evaluate_fn=server.evaluate)

    cpus = max(float(os.cpu_count() or 1), fc.client_cpus)
    backend = {"client_resources": {"num_cpus": fc.client_cpus, "num_gpus": 0.0},
               "init_args": {"num_cpus": cpus, "include_dashboard": False,
                             "object_store_memory": RAY_OBJECT_STORE_BYTES,
                             "logging_level": logging.ERROR, "log_to_driver": False}}
    try:
        run_simulation(server_app=server_app, client_app=client_app, num_supernodes=fc.clients,
                       backend_config=backend)
    except SystemExit as exc:  # Flower exits the process on some start-up failures
        raise GradkitError(f"Flower's simulation runtime stopped (exit code {exc.code}); "
                           "its log above says why") from None


def _finish(cfg: C.RunConfig, data, task, run: RunDir, device, server: GlobalModel, verbose: bool):
    """Best global model -> metrics.json (as any run, plus federated/* and the baseline), report."""
    from gradkit import checkpoint
    from gradkit.engine import Run, lifecycle
    from gradkit.engine.supervised import final_metrics

    best = checkpoint.load(run.best, device)
    task.model.load_state_dict(best["models"]["model"])
    metrics = final_metrics(task, data, cfg, run, device, verbose)
    history = server.history
    first = next((r for r in history if r["round"] == 1), None)
    metrics.update({"federated/rounds": len(history) - 1, "federated/best_round": server.best_round,
                    "federated/initial_test_accuracy": history[0].get("test/accuracy"),
                    "federated/round1_test_accuracy": first and first.get("test/accuracy"),
                    "federated/last_test_accuracy": history[-1].get("test/accuracy")})
    privacy = privacy_statement(cfg.federated)
    if privacy and privacy["epsilon"] is not None:
        metrics["federated/epsilon"] = privacy["epsilon"]
    metrics.update(_baseline(cfg, data, run, verbose))
    lifecycle.finish(run, metrics, "completed", epochs_completed=len(history) - 1,
                     best_epoch=server.best_round, best_value=server.best_value, stop_reason=None,
                     train_seconds=history[-1]["time"] if history else 0.0)
    out = Run(run.path, cfg, data.spec, task.model, task, metrics, device)
    if cfg.output.report:
        lifecycle.report(run, verbose)
    return out


def _baseline(cfg: C.RunConfig, data, run: RunDir, verbose: bool) -> dict[str, Any]:
    """The same recipe trained centrally on all of train, as many passes as the federation made;
    its run directory is run_dir/baseline."""
    from gradkit.engine import execute, validate

    epochs = baseline_epochs(cfg.federated)
    if epochs == 0:
        return {}
    if verbose:
        print(f"gradkit: centralised baseline: the same recipe, {epochs} epoch(s) on all "
              f"{len(data.train)} training examples", flush=True)
    central = cfg.model_copy(update={
        "federated": None, "name": f"{cfg.name}/baseline",
        "train": cfg.train.model_copy(update={"epochs": epochs}),
        "output": cfg.output.model_copy(update={"run_dir": str(run.path / "baseline"),
                                                "report": False, "explain": False, "track": []})})
    base = execute(validate(central.to_dict(), "centralised baseline"), data=data, verbose=False)
    info = RunDir(base.dir).read_json("run.json", {})
    return {"baseline/centralised/accuracy": base.metrics.get("test/accuracy"),
            "baseline/centralised/epochs": float(epochs),
            "baseline/centralised/seconds": float(info.get("train_seconds") or 0.0)}
