"""`gradkit federated`: a recipe trained by simulated clients on Flower (gradkit/federated)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from gradkit.cli.app import app, console, guard, recipe_args


@app.command(context_settings={"allow_extra_args": False})
def federated(
    recipe: Annotated[Optional[str], typer.Argument(help="Recipe name (any classification recipe).")] = None,
    overrides: Annotated[Optional[list[str]], typer.Argument(help="KEY=VALUE overrides.",
                                                             show_default=False)] = None,
    clients: Annotated[Optional[int], typer.Option(help="Simulated clients (default 10).")] = None,
    rounds: Annotated[Optional[int], typer.Option(help="Federated rounds (default 20).")] = None,
    fraction: Annotated[Optional[float], typer.Option(help="Clients sampled per round (0.5).")] = None,
    strategy: Annotated[Optional[str], typer.Option(help="fedavg or fedprox.")] = None,
    partition: Annotated[Optional[str], typer.Option(help="iid, dirichlet:ALPHA or shards:K.")] = None,
    local_epochs: Annotated[Optional[int], typer.Option(help="Epochs per client per round (1).")] = None,
    mu: Annotated[Optional[float], typer.Option(help="FedProx proximal weight (0.01).")] = None,
    dp_clip: Annotated[Optional[float], typer.Option(help="DP: clip each client update to this L2 norm.")] = None,
    dp_noise: Annotated[Optional[float], typer.Option(help="DP: Gaussian noise multiplier.")] = None,
    config: Annotated[Optional[Path], typer.Option("-c", "--config", help="Your own recipe YAML.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Exact run directory to create.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Federated learning on Flower: `gradkit federated fashion-mlp --clients 10 --partition dirichlet:0.3`.

    Each client trains the recipe's model on its own partition; Flower's FedAvg/FedProx
    aggregates; the report shows test accuracy per round, each client's labels and the
    centralised baseline. Needs: pip install 'gradkit\\[federated]'.
    """
    recipe, items = recipe_args(recipe, overrides, config)
    flags = flag_overrides(clients, rounds, fraction, strategy, partition, local_epochs, dp_clip,
                           dp_noise, mu)
    guard(lambda: _run(recipe, items, config, out, quiet, flags))


def flag_overrides(clients: int | None, rounds: int | None, fraction: float | None,
                   strategy: str | None, partition: str | None, local_epochs: int | None,
                   dp_clip: float | None, dp_noise: float | None, mu: float | None) -> dict[str, Any]:
    """The command's flags as a `federated:` override; always present, so that any recipe
    (fashion-mlp as well as federated-fashion-mlp-iid) runs federated under this command."""
    flags = {"clients": clients, "rounds": rounds, "fraction": fraction, "strategy": strategy,
             "partition": partition, "local_epochs": local_epochs, "dp_clip": dp_clip,
             "dp_noise": dp_noise, "proximal_mu": mu}
    return {"federated": {k: v for k, v in flags.items() if v is not None}}


def _run(recipe: str | None, overrides: list[str], config: Path | None, out: Path | None,
         quiet: bool, flags: dict[str, Any]) -> None:
    """Train federated, then print the global model's test figures beside the baseline's."""
    from gradkit import api

    run = api.train(recipe, config_file=config, overrides=overrides, out=out, verbose=not quiet,
                    **flags)
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
