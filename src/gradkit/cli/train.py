"""Training a recipe and using what it trained: `gradkit recipes`, `train`, `evaluate`, `predict`."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from gradkit.cli.app import app, console, fail, guard, print_metrics, recipe_args


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
    seeds: Annotated[Optional[int], typer.Option("--seeds", help="Train N times, seeds seed..seed+N-1 "
                                                 "(every variant N times); report mean, sd, 95% CI "
                                                 "and whether variants differ beyond seed noise.")] = None,
) -> None:
    """Train a recipe: `gradkit train fashion-mlp optim.lr=3e-4 train.epochs=10`.

    Values are parsed as YAML (numbers, true/false, [lists]). The run directory (config,
    metrics, checkpoints, report.html) is printed at the end. `--seeds 5` trains it five times
    and states the spread: `gradkit train lesson-optimizers --seeds 5`.
    """
    recipe, items = recipe_args(recipe, overrides, config, required=resume is None)
    if resume is None:
        name = guard(lambda: preflight(recipe, config, items))  # a mistake: said before torch loads
        if not quiet:  # the first line within a moment; torch, the data and the model load next
            print(f"gradkit: {name}: config checked; loading torch", flush=True)
    from gradkit import api

    if resume is not None:
        if recipe or items or config:
            fail("--resume reloads the run's saved config exactly; drop the recipe and overrides "
                 "(start a new run to change them)")
        run = guard(lambda: api.resume(resume, verbose=not quiet, nproc=nproc))
    else:
        if no_explain:
            items.append("output.explain=false")
        run = guard(lambda: api.train(recipe, config_file=config, overrides=items, out=out,
                                      verbose=not quiet, nproc=nproc, seeds=seeds))
    if isinstance(run, dict):  # variants {name: Run}, or seeds: {seed: Run} / {name: {seed: Run}}
        _print_several(run)
        return
    from gradkit.training.distributed import is_main_process

    if not is_main_process():  # a torchrun rank other than 0: rank 0 prints the results
        return
    print_metrics(run.metrics, "eval" if run.config.rl else "test")
    console.print(f"run directory: [bold]{run.dir}[/]", soft_wrap=True)
    report = Path(run.dir) / "report.html"
    if report.is_file():
        console.print(f"report:        [bold]{report}[/]", soft_wrap=True)


def preflight(recipe: str | None, config: Path | None, items: list[str]) -> str:
    """The checks that need nothing heavy, run before torch and the registries are imported: the
    recipe, the file and every override against the schema (unknown keys, types, ranges), the
    names of the data set, task, model (and the model's keys), RL algorithm and trackers against
    the built-in catalogue (gradkit.config.catalog), and the data file or folder a config names;
    for the config and each of its variants. The full validation follows in gradkit.engine."""
    from gradkit import config as C
    from gradkit.config import catalog
    from gradkit.errors import DataError

    raw, extra, where = C.gather(recipe, config, items)
    cfg = C.parse(raw, where)
    configs = [(cfg, where)] + [(C.parse(merged, source), source)
                                for merged, source in C.variant_raws(raw, extra, cfg, where).values()]
    for each, source in configs:
        catalog.check(each, source)  # the registered names and each model's keys, without torch
        data = each.data
        if data.name in ("csv", "text-csv") and data.path and not Path(data.path).expanduser().is_file():
            what = "CSV" if data.name == "csv" else "text CSV"
            raise DataError(f"data.path: {what} file not found: {Path(data.path).expanduser()}")
        if data.name == "image-folder" and data.dir and not Path(data.dir).expanduser().is_dir():
            raise DataError(f"data.dir: folder not found: {Path(data.dir).expanduser()}")
    return cfg.name


def _print_several(runs: dict) -> None:
    """Variants: each one's test metrics. Seeds: the parent's summary, mean ± sd [95% CI] per
    variant, and the verdicts."""
    cells = [r for v in runs.values() for r in (v.values() if isinstance(v, dict) else [v])]
    parent = next(p for p in Path(cells[0].dir).parents if (p / "comparison.json").is_file())
    if (parent / "summary.json").is_file():  # seeds
        _print_summary(parent)
    else:
        for name, run in runs.items():
            print_metrics(run.metrics, "test", title=f"{name}: test metrics")
            console.print(f"{name} run directory: [bold]{run.dir}[/]", soft_wrap=True)
    report = parent / "report.html"
    if report.is_file():
        console.print(f"comparison report: [bold]{report}[/]", soft_wrap=True)


def _print_summary(parent: Path) -> None:
    import json

    from gradkit.report.seeds import fmt

    summary = json.loads((parent / "summary.json").read_text())
    metric = summary.get("metric")
    table = Table(title=f"{metric}: mean ± sd [95% CI] over seeds")
    table.add_column("variant")
    table.add_column(metric or "metric", justify="right")
    for name, stats in summary["variants"].items():
        table.add_row(name, fmt(stats.get(metric)))
    console.print(table)
    for c in summary.get("comparisons", []):
        console.print(f"{c['variant']} against {c['reference']}: {c['verdict']}", highlight=False)
    console.print(f"runs: [bold]{parent}[/]", soft_wrap=True)


@app.command()
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    split: Annotated[str, typer.Option(help="test or val.")] = "test",
    checkpoint: Annotated[str, typer.Option(help="best or last.")] = "best",
    data_dir: Annotated[Optional[str], typer.Option(help="Where to find the data set.")] = None,
) -> None:
    """Metrics of a saved run on the test (or val) split, as a table."""
    from gradkit import api

    metrics = guard(lambda: api.evaluate(run_dir, split, checkpoint, data_dir))
    print_metrics(metrics, split)


@app.command()
def predict(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    inputs: Annotated[list[Path], typer.Argument(help="Image files (PNG, JPEG...) or a CSV of rows.")],
    top_k: Annotated[int, typer.Option("--top-k", "-k", help="How many classes to show.")] = 3,
    invert: Annotated[str, typer.Option(help="auto|yes|no: invert light-background images.")] = "auto",
) -> None:
    """Label and top-k probabilities for image files or CSV rows."""
    guard(lambda: _predict(run_dir, inputs, top_k, invert))


def _predict(run_dir: Path, inputs: list[Path], top_k: int, invert: str) -> None:
    import numpy as np

    from rich.markup import escape

    from gradkit import api
    from gradkit.data.inputs import load_image, read_rows

    run = api.load(run_dir)
    for path in inputs:
        if path.suffix.lower() == ".csv":
            batch, notes = read_rows(path, run.spec, run.config.data.target)
        else:
            image, notes = load_image(path, run.spec, invert)
            batch = image[None]
        if not run.classifies:
            for i, value in enumerate(np.atleast_1d(run.predict(batch))):
                label = escape(str(path)) + (f" row {i + 1}" if len(batch) > 1 else "")
                console.print(f"{label}: {np.array2string(np.asarray(value), precision=4)}",
                              highlight=False)
            continue
        if notes:
            console.print(f"[dim]{escape(str(path))}: {escape('; '.join(notes))}[/]")
        for i, top in enumerate(run.classify(batch, top_k)):
            label = escape(str(path)) + (f" row {i + 1}" if len(batch) > 1 else "")
            console.print(f"{label}: [bold]{escape(str(top[0][0]))}[/]", highlight=False)
            for name, p in top:
                console.print(f"    {p:6.1%}  {escape(str(name))}", highlight=False)


@app.command()
def lessons(markdown: Annotated[bool, typer.Option("--markdown", help="Print docs/lessons.md.")] = False,
            results: Annotated[Optional[Path], typer.Option(
                "--results", help="With --markdown: the folder of measured summaries "
                "(benchmarks/results/lessons).")] = None,
            root: Annotated[Path, typer.Option("--root", help="Where your runs are.")] = Path("runs")
            ) -> None:
    """The articles' claims as recipes: claim, command, recorded and latest verdict.

    Each lesson trains its variants over several seeds and judges the claim from the numbers:
    `gradkit train lesson-optimizers`, then open the report it prints.
    """
    from gradkit.lessons import lesson_rows, lessons_markdown

    if markdown:
        print(lessons_markdown(results))
        return
    from rich.markup import escape

    table = Table(title="gradkit lessons  (run one: gradkit train NAME; numbers: docs/lessons.md)")
    table.add_column("lesson", no_wrap=True)
    table.add_column("claim", min_width=24)
    table.add_column("verdict measured here", min_width=12)
    table.add_column(f"your latest run (under {root})", min_width=12)
    for row in lesson_rows(root):
        recorded = row["recorded"].split(":", 1)[0] if row["recorded"] else "–"  # "VERDICT: numbers"
        table.add_row(*(escape(v) for v in (row["name"], row["claim"], recorded, row["latest"] or "–")))
    console.print(table)
