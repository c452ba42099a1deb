"""The body of `gradkit federated` (gradkit/cli.py holds only its arguments)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console


def flag_overrides(clients: int | None, rounds: int | None, fraction: float | None,
                   strategy: str | None, partition: str | None, local_epochs: int | None,
                   dp_clip: float | None, dp_noise: float | None, mu: float | None) -> dict[str, Any]:
    """The command's flags as a `federated:` override; always present, so that any recipe
    (fashion-mlp as well as federated-fashion-mlp-iid) runs federated under this command."""
    flags = {"clients": clients, "rounds": rounds, "fraction": fraction, "strategy": strategy,
             "partition": partition, "local_epochs": local_epochs, "dp_clip": dp_clip,
             "dp_noise": dp_noise, "proximal_mu": mu}
    return {"federated": {k: v for k, v in flags.items() if v is not None}}


def run(recipe: str | None, overrides: list[str], config: Path | None, out: Path | None,
        quiet: bool, flags: dict[str, Any], console: Console) -> None:
    """Train federated, then print the global model's test figures beside the baseline's."""
    import gradkit.api

    run = gradkit.api.train(recipe, config_file=config, overrides=overrides, out=out,
                            verbose=not quiet, **flags)
    m = run.metrics
    rows = [("global model (best round)", m.get("test/accuracy")),
            ("global model, round 1", m.get("federated/round1_test_accuracy")),
            ("global model, last round", m.get("federated/last_test_accuracy")),
            ("centralised baseline", m.get("baseline/centralised/accuracy"))]
    for label, value in rows:
        if value is not None:
            console.print(f"{label:<28} test accuracy {value:.4f}", highlight=False)
    if "federated/epsilon" in m:
        console.print(f"differential privacy: epsilon {m['federated/epsilon']:.3g} "
                      f"(delta {run.config.federated.dp_delta:g}, client-level)", highlight=False)
    console.print(f"run directory: [bold]{run.dir}[/]", soft_wrap=True)
    report = Path(run.dir) / "report.html"
    if report.is_file():
        console.print(f"report:        [bold]{report}[/]", soft_wrap=True)
