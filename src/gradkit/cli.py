"""The `gradkit` command. Each subcommand parses its arguments and calls the Python API; heavy
imports (torch) happen inside the commands so `gradkit --help` answers at once.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    name="gradkit",
    help="The classic deep-learning systems as named, fast, one-command recipes.\n\n"
         "Start with `gradkit recipes`, then `gradkit train digits-cnn`.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
)
runs_app = typer.Typer(help="List runs and compare them.", invoke_without_command=True)
app.add_typer(runs_app, name="runs")
console = Console()


def _fail(exc: Exception) -> None:
    from rich.markup import escape  # "pip install 'gradkit[tune]'" is not a style tag

    console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _guard(fn):
    """Run a command, turning gradkit's own errors into a clean message (no traceback)."""
    from gradkit.errors import GradkitError

    try:
        return fn()
    except GradkitError as exc:
        _fail(exc)


def _api():
    import gradkit.api

    return gradkit.api


@app.command()
def recipes(markdown: Annotated[bool, typer.Option("--markdown", help="Print docs/recipes.md.")] = False) -> None:
    """List the named recipes: name, task, data set, what each reproduces."""
    from gradkit.recipes_doc import recipe_rows, recipes_markdown

    if markdown:
        print(recipes_markdown())
        return
    table = Table(title="gradkit recipes  (run one: gradkit train NAME \\[key=value ...])")
    # On a narrow terminal task, data and model share a column so `reproduces` stays readable.
    narrow = console.width < 110
    for col in ("name",) + (("task / data / model",) if narrow else ("task", "data", "model")):
        table.add_column(col, no_wrap=True)
    table.add_column("reproduces", min_width=28)
    for row in recipe_rows():
        middle = ([f"{row['task']}\n{row['data']}\n{row['model']}"] if narrow
                  else [row["task"], row["data"], row["model"]])
        table.add_row(row["name"], *middle, row["reproduces"])
    console.print(table)


@app.command(context_settings={"allow_extra_args": False})
def train(
    recipe: Annotated[Optional[str], typer.Argument(help="Recipe name (see `gradkit recipes`).")] = None,
    overrides: Annotated[Optional[list[str]], typer.Argument(
        help="KEY=VALUE overrides, e.g. optim.lr=3e-4 train.epochs=10 model.hidden=[256,128].",
        show_default=False)] = None,
    config: Annotated[Optional[Path], typer.Option("-c", "--config", help="Your own recipe YAML "
                                                   "(may name a `base:` recipe).")] = None,
    resume: Annotated[Optional[Path], typer.Option("--resume", help="Continue RUN_DIR from its "
                                                   "last checkpoint with its saved config.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Exact run directory to create.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
    nproc: Annotated[int, typer.Option("--nproc", help="Train on N local processes with DDP "
                                       "(torchrun's agent; docs/scaling.md).")] = 1,
    no_explain: Annotated[bool, typer.Option("--no-explain", help="Skip the report's Explanations "
                                             "(same as output.explain=false).")] = False,
) -> None:
    """Train a recipe: `gradkit train fashion-mlp optim.lr=3e-4 train.epochs=10`.

    Values are parsed as YAML (numbers, true/false, [lists]). The run directory (config,
    metrics, checkpoints, report.html) is printed at the end.
    """
    items = list(overrides or [])
    if recipe and "=" in recipe:  # `gradkit train -c file.yaml lr=...`: no recipe name given
        items.insert(0, recipe)
        recipe = None
    if resume is not None:
        if recipe or items or config:
            _fail(ValueError("--resume reloads the run's saved config exactly; drop the recipe "
                             "and overrides (start a new run to change them)"))
        run = _guard(lambda: _api().resume(resume, verbose=not quiet, nproc=nproc))
    else:
        if not recipe and not config:
            _fail(ValueError("name a recipe (`gradkit recipes` lists them) or pass -c FILE.yaml"))
        if no_explain:
            items.append("output.explain=false")
        run = _guard(lambda: _api().train(recipe, config_file=config, overrides=items, out=out,
                                          verbose=not quiet, nproc=nproc))
    if isinstance(run, dict):  # a recipe with variants: {variant name: Run}
        _print_variants(run)
        return
    from gradkit.distributed import is_main_process

    if not is_main_process():  # a torchrun rank other than 0: rank 0 prints the results
        return
    _print_metrics(run.metrics, "eval" if run.config.rl else "test")
    console.print(f"run directory: [bold]{run.dir}[/]", soft_wrap=True)
    report = Path(run.dir) / "report.html"
    if report.is_file():
        console.print(f"report:        [bold]{report}[/]", soft_wrap=True)


def _print_variants(runs: dict) -> None:
    for name, run in runs.items():
        _print_metrics(run.metrics, "test", title=f"{name}: test metrics")
        console.print(f"{name} run directory: [bold]{run.dir}[/]", soft_wrap=True)
    report = Path(next(iter(runs.values())).dir).parent / "report.html"
    if report.is_file():
        console.print(f"comparison report: [bold]{report}[/]", soft_wrap=True)


@app.command()
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    split: Annotated[str, typer.Option(help="test or val.")] = "test",
    checkpoint: Annotated[str, typer.Option(help="best or last.")] = "best",
    data_dir: Annotated[Optional[str], typer.Option(help="Where to find the data set.")] = None,
) -> None:
    """Metrics of a saved run on the test (or val) split, as a table."""
    metrics = _guard(lambda: _api().evaluate(run_dir, split, checkpoint, data_dir))
    _print_metrics(metrics, split)


@app.command()
def predict(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    inputs: Annotated[list[Path], typer.Argument(help="Image files (PNG, JPEG...) or a CSV of rows.")],
    top_k: Annotated[int, typer.Option("--top-k", "-k", help="How many classes to show.")] = 3,
    invert: Annotated[str, typer.Option(help="auto|yes|no: invert light-background images.")] = "auto",
) -> None:
    """Label and top-k probabilities for image files or CSV rows."""
    _guard(lambda: _predict(run_dir, inputs, top_k, invert))


def _predict(run_dir: Path, inputs: list[Path], top_k: int, invert: str) -> None:
    import numpy as np

    from gradkit.predict import load_image

    run = _api().load(run_dir)
    for path in inputs:
        if path.suffix.lower() == ".csv":
            rows = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2, dtype=np.float32)
            batch, notes = rows, []
        else:
            image, notes = load_image(path, run.spec, invert)
            batch = image[None]
        if run.spec.task != "classification":
            for value in run.predict(batch):
                console.print(f"{path}: {value:.4g}")
            continue
        for i, top in enumerate(run.classify(batch, top_k)):
            label = f"{path}" + (f" row {i + 1}" if len(batch) > 1 else "")
            extra = f"  [dim]({'; '.join(notes)})[/]" if notes else ""
            console.print(f"{label}: [bold]{top[0][0]}[/]{extra}")
            for name, p in top:
                console.print(f"    {p:6.1%}  {name}")


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
    from gradkit.federated.cli import flag_overrides, run

    items = list(overrides or [])
    if recipe and "=" in recipe:
        items.insert(0, recipe)
        recipe = None
    if not recipe and not config:
        _fail(ValueError("name a recipe (`gradkit recipes` lists them) or pass -c FILE.yaml"))
    flags = flag_overrides(clients, rounds, fraction, strategy, partition, local_epochs, dp_clip,
                           dp_noise, mu)
    _guard(lambda: run(recipe, items, config, out, quiet, flags, console))


# sample, play, reconstruct, anomaly, tune, lr-find and explain live in cli_tools.py (this file
# stays short). Imported here, not at the top, because it needs `app`, `_guard`, `_api` and
# `console` defined above, and here, not at the bottom, because typer lists commands in the order
# they register: this keeps them after predict and before report in `gradkit --help`.
from gradkit import cli_tools  # noqa: E402, F401


@runs_app.callback()
def runs(ctx: typer.Context,
         root: Annotated[Path, typer.Option(help="Where runs live.")] = Path("runs")) -> None:
    """Table of runs with their key metrics (newest first)."""
    if ctx.invoked_subcommand is not None:
        return
    from gradkit.listing import list_runs

    table = Table(title=f"runs under {root}")
    for col in ("run", "status", "epochs", "test/accuracy", "test/f1_macro", "test/rmse", "seconds"):
        table.add_column(col)
    for row in list_runs(root):
        table.add_row(*[row.get(c, "") for c in ("run", "status", "epochs", "test/accuracy",
                                                 "test/f1_macro", "test/rmse", "seconds")])
    console.print(table)


@runs_app.command("compare")
def runs_compare(run_dirs: Annotated[list[Path], typer.Argument(help="Two or more run directories.")]) -> None:
    """Side-by-side config differences and metrics of runs."""
    from gradkit.listing import compare_runs

    diff, metrics = _guard(lambda: compare_runs(run_dirs))
    for title, rows in (("config differences", diff), ("metrics", metrics)):
        table = Table(title=title)
        table.add_column("key")
        for d in run_dirs:
            table.add_column(Path(d).name)
        for key, values in rows:
            table.add_row(key, *values)
        console.print(table)


@app.command()
def report(run_dir: Annotated[Path, typer.Argument(help="A run directory.")]) -> None:
    """(Re)build RUN_DIR/report.html (a recipe's variants: their comparison report)."""
    from gradkit.report import build_report
    from gradkit.report.compare import build_comparison

    build = build_comparison if (run_dir / "comparison.json").is_file() else build_report
    try:
        path = build(run_dir)
    except FileNotFoundError as exc:
        _fail(exc)
    console.print(f"report: [bold]{path}[/]")


@app.command()
def doctor(
    data_dir: Annotated[Optional[str], typer.Option(help="Extra folder to search.")] = None,
    check_data: Annotated[Optional[str], typer.Option(
        "--check-data", metavar="RECIPE_OR_CONFIG",
        help="Check this recipe's (or config file's) data set before training: splits, class "
             "balance, NaNs, train/test duplicates, image sizes, text lengths. Exit 1 on errors.")] = None,
    overrides: Annotated[Optional[list[str]], typer.Argument(
        help="KEY=VALUE overrides for --check-data, as for train.", show_default=False)] = None,
) -> None:
    """Versions, threads, device, and which data sets are found where (or --check-data one)."""
    if check_data is not None:
        from gradkit.data.check import check_command

        extra = [*(overrides or []), *([f"data.dir={data_dir}"] if data_dir else [])]
        raise typer.Exit(_guard(lambda: check_command(check_data, extra, console)))
    if overrides:
        _fail(ValueError("KEY=VALUE overrides go with --check-data RECIPE"))
    from gradkit.doctor import report_lines

    for line in report_lines(data_dir):
        console.print(line, highlight=False)


@app.command()
def export(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (or a bundle).")],
    format: Annotated[str, typer.Option("--format", "-f", help="onnx|torchscript|torch-export|bundle.")] = "bundle",
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="File (folder for a bundle); "
                                                "default RUN_DIR/export/.")] = None,
    data_dir: Annotated[Optional[str], typer.Option(help="Where the run's data set is now.")] = None,
) -> None:
    """Export the best model, checked against the original on the run's test data."""
    from gradkit.export.cli import export_command

    _guard(lambda: export_command(console, run_dir, format, out, data_dir))


@app.command()
def serve(
    path: Annotated[Path, typer.Argument(help="A run directory or a bundle.")],
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    max_body_mb: Annotated[float, typer.Option(help="Largest request body, MB.")] = 10.0,
    max_batch: Annotated[int, typer.Option(help="Most examples per request.")] = 256,
    max_text_chars: Annotated[int, typer.Option(help="Longest text, characters.")] = 10_000,
    max_image_pixels: Annotated[int, typer.Option(help="Largest image, width x height.")] = 4096 * 4096,
    threads: Annotated[int, typer.Option(help="Torch threads per prediction.")] = 2,
) -> None:
    """Serve a model over HTTP: POST /predict, GET /health, /metadata; a drawing page at /."""
    from gradkit.serve.cli import serve_command

    _guard(lambda: serve_command(path, host, port, max_body_mb, max_batch, max_text_chars,
                                 max_image_pixels, threads))


def _print_metrics(metrics: dict, prefix: str, title: str | None = None) -> None:
    table = Table(title=title or f"{prefix} metrics")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        if key.startswith(prefix + "/") or key.startswith("baseline/"):
            if not key.endswith(("/seconds", "/train_rows")):
                table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    console.print(table)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
