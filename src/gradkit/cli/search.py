"""Searching a recipe's settings: `gradkit tune` (Optuna) and `gradkit lr-find` (gradkit/tune)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gradkit.cli.app import app, guard, recipe_args


@app.command("tune", context_settings={"allow_extra_args": False})
def tune_cmd(
    recipe: Annotated[Optional[str], typer.Argument(help="Recipe name (see `gradkit recipes`).")] = None,
    overrides: Annotated[Optional[list[str]], typer.Argument(help="KEY=VALUE overrides for every "
                                                              "trial, e.g. train.epochs=10.")] = None,
    space: Annotated[list[str], typer.Option("--space", "-s", help="KEY=DIST:ARGS, repeatable: "
                     "loguniform:1e-4:1e-1, uniform:0:0.5, int:1:4[:STEP], logint:8:256, choice:32,64,128.")] = [],
    trials: Annotated[int, typer.Option("--trials", "-n", help="Trials in all (a resumed study counts its own).")] = 30,
    metric: Annotated[Optional[str], typer.Option(help="What to optimise (default: the recipe's train.monitor).")] = None,
    direction: Annotated[Optional[str], typer.Option(help="minimize or maximize (default: from the metric).")] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Trials run at once, one process each.")] = 1,
    pruner: Annotated[str, typer.Option(help="median, halving (successive halving) or none.")] = "median",
    config: Annotated[Optional[Path], typer.Option("-c", "--config", help="Your own recipe YAML.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Study directory; an existing one resumes.")] = None,
    seeds: Annotated[Optional[str], typer.Option("--seeds", help="Train each trial on these seeds "
                     "and score --aggregate of their values: a count (5), a list (0,3,7) or a range (0-9).")] = None,
    aggregate: Annotated[str, typer.Option("--aggregate", help="With --seeds: mean, median, min, max or "
                         "pNN (p90: the 90th percentile, a score of the worst seeds).")] = "mean",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Tune hyperparameters with Optuna; prune weak trials from their validation curves.

    The study directory holds every trial's run, best.yaml (`gradkit train -c best.yaml`) and
    report.html; run the command again with --out on it to resume (more --trials). Examples:

    \b
    gradkit tune digits-mlp --trials 30 --space optim.lr=loguniform:1e-4:1e-1 \\
        --space train.batch_size=choice:32,64,128 --metric val/accuracy
    gradkit tune fashion-mlp train.epochs=5 -s model.dropout=uniform:0:0.5 -j 2
    gradkit tune digits-mlp -s optim.lr=loguniform:1e-4:1e-1 -n 50 --out runs/digits-mlp/tune-X
    gradkit tune cartpole-dqn -s rl.lr=loguniform:1e-4:3e-3 --seeds 0-9 --aggregate p90 \\
        --metric eval/seconds_to_solve

    With --seeds, an RL run that never solves counts at its whole budget (steps or seconds).
    """
    from gradkit.tune.study import tune

    recipe, items = recipe_args(recipe, overrides, config, required=False)
    guard(lambda: tune(recipe, space=space, trials=trials, config_file=config, overrides=items,
                        metric=metric, direction=direction, jobs=jobs, pruner=pruner, out=out,
                        seeds=seeds, aggregate=aggregate, verbose=not quiet))


@app.command("lr-find", context_settings={"allow_extra_args": False})
def lr_find_cmd(
    recipe: Annotated[Optional[str], typer.Argument(help="Recipe name (see `gradkit recipes`).")] = None,
    overrides: Annotated[Optional[list[str]], typer.Argument(help="KEY=VALUE overrides.")] = None,
    config: Annotated[Optional[Path], typer.Option("-c", "--config", help="Your own recipe YAML.")] = None,
    start: Annotated[float, typer.Option(help="First learning rate.")] = 1e-7,
    end: Annotated[float, typer.Option(help="Last learning rate (the sweep stops earlier if the loss diverges).")] = 10.0,
    steps: Annotated[int, typer.Option(help="Mini-batches in the sweep.")] = 100,
    out: Annotated[Optional[Path], typer.Option("--out", help="Where to write lr_find.png and lr_find.json.")] = None,
) -> None:
    """Learning-rate range test: sweep the lr over mini-batches, plot the loss, suggest optim.lr.

    Prints the suggested lr and the `gradkit train ... optim.lr=...` command that uses it;
    writes the plot and the numbers to --out. Examples:

    \b
    gradkit lr-find digits-mlp
    gradkit lr-find fashion-cnn optim.name=sgd optim.momentum=0.9 --steps 200
    """
    from gradkit.tune.lr_find import lr_find

    recipe, items = recipe_args(recipe, overrides, config, required=False)
    guard(lambda: lr_find(recipe, config_file=config, overrides=items, start=start, end=end,
                           steps=steps, out=out))
