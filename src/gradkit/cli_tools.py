"""The `gradkit` commands that use a trained run's model or search a recipe's settings: sample,
play, reconstruct, anomaly, tune, lr-find, explain. They register on gradkit.cli's `app`, which
imports this module right after `predict` so `gradkit --help` lists them in that place; like
cli.py, they import torch and the field libraries only inside the commands.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from gradkit.cli import _api, _guard, app, console


@app.command()
def sample(
    run_dir: Annotated[Path, typer.Argument(help="A run directory of a language model (e.g. from "
                                            "`gradkit train charlm-lstm`), a VAE or a GAN "
                                            "(`gradkit train fashion-vae`, `fashion-gan`).")],
    n: Annotated[int, typer.Option("-n", help="Images: how many to draw, in one grid.")] = 64,
    out: Annotated[Path, typer.Option("--out", "-o", help="Images: the grid's PNG file.")] = Path("samples.png"),
    prompt: Annotated[str, typer.Option("--prompt", "-p", help="Text: what to continue; empty: start a "
                                        "new line. Characters the model never saw are read as [UNK].")] = "",
    tokens: Annotated[int, typer.Option("--tokens", "-t", help="Text: how many characters to write.")] = 200,
    temperature: Annotated[float, typer.Option(help="Text: divides the logits: 0 is greedy (always the "
                                               "likeliest), below 1 safer, above 1 wilder.")] = 0.8,
    top_k: Annotated[Optional[int], typer.Option("--top-k", "-k", help="Text: draw only from the K "
                                                 "likeliest characters (default: all).")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Same seed, same samples (default: random).")] = None,
) -> None:
    """Draw from a trained generative model.

    Images (VAE decoder, GAN generator): `gradkit sample RUN_DIR -n 64 --out grid.png` writes
    an n-image grid. Text (language models): `gradkit sample RUN_DIR --prompt "a small "`
    prints the prompt and its continuation, each character drawn from the model's
    next-character distribution given the last data.max_length characters.
    """
    _guard(lambda: _sample(run_dir, n, out, prompt, tokens, temperature, top_k, seed))


def _sample(run_dir: Path, n: int, out: Path, prompt: str, tokens: int, temperature: float,
            top_k: int | None, seed: int | None) -> None:
    import warnings

    from gradkit.errors import GradkitError
    from gradkit.generate import generate, sample_tasks

    run = _api().load(run_dir)
    if run.spec.task not in sample_tasks():
        raise GradkitError(f"gradkit sample does not support task '{run.spec.task}'; it samples from "
                           f"runs of: {', '.join(sample_tasks())} (e.g. gradkit train fashion-vae, "
                           "charlm-lstm)")
    if run.spec.task != "language-model":
        from gradkit.gallery import sample_grid

        path = sample_grid(run, n, out, seed)
        console.print(f"{n} samples from {run_dir}: {path}", highlight=False)
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        text = generate(run, prompt, tokens, temperature, top_k, seed)
    for w in caught:
        console.print(f"[yellow]warning:[/] {w.message}", highlight=False, soft_wrap=True)
    console.print(prompt + text, highlight=False, markup=False, soft_wrap=True)


@app.command()
def play(
    run_dir: Annotated[Path, typer.Argument(help="A run directory of an RL run (e.g. from "
                                            "`gradkit train cartpole-ppo`).")],
    episodes: Annotated[int, typer.Option("--episodes", "-n", help="How many episodes.")] = 10,
    seed: Annotated[Optional[int], typer.Option(help="Episode seeds (default: the run's seed, "
                                                "which repeats the run's own evaluation).")] = None,
    gif: Annotated[Optional[Path], typer.Option("--gif", help="Write the first episode as an "
                                                "animated GIF (needs pygame).")] = None,
    checkpoint: Annotated[str, typer.Option(help="best or last.")] = "best",
) -> None:
    """Evaluate a trained agent: deterministic episodes, their returns, mean ± std.

    Observations are normalised with the statistics saved in the checkpoint (frozen).
    """
    def go() -> None:
        from gradkit.rl.agent import play as play_agent

        out = play_agent(run_dir, episodes, seed, gif, checkpoint)
        console.print(f"{out['algo'].upper()} on {out['env']}, {checkpoint} checkpoint, seed "
                      f"{out['seed']}, deterministic", highlight=False)
        for i, value in enumerate(out["returns"], start=1):
            console.print(f"episode {i:>3}: return {value:.1f}", highlight=False)
        verdict = "" if out["threshold"] is None else (
            f"  ({'reaches' if out['solved'] else 'below'} the reward threshold {out['threshold']:g})")
        console.print(f"mean return {out['mean']:.1f} ± {out['std']:.1f} over {episodes} "
                      f"episodes{verdict}", highlight=False)
        if out["gif"] is not None:
            console.print(f"first episode: {out['gif']}", highlight=False)

    _guard(go)


@app.command()
def reconstruct(
    run_dir: Annotated[Path, typer.Argument(help="A run directory of an autoencoder or VAE "
                                            "(e.g. from `gradkit train fashion-autoencoder`).")],
    images: Annotated[list[Path], typer.Argument(help="Image files (PNG, JPEG...); resized to the "
                                                 "training images' size.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG of the inputs (top row) over "
                                      "their reconstructions.")] = Path("reconstructions.png"),
    invert: Annotated[str, typer.Option(help="auto|yes|no: invert light-background images.")] = "auto",
) -> None:
    """Reconstruct image files with an autoencoder or VAE; print each one's error per pixel."""
    def go() -> None:
        from gradkit.gallery import reconstruct_files

        path, rows = reconstruct_files(_api().load(run_dir), images, out, invert)
        for name, error, notes in rows:
            extra = f"  [dim]({'; '.join(notes)})[/]" if notes else ""
            console.print(f"{name}: mean squared error {error:.4f} per pixel{extra}", highlight=False)
        console.print(f"inputs over reconstructions: {path}", highlight=False)

    _guard(go)


@app.command()
def anomaly(
    run_dir: Annotated[Path, typer.Argument(help="A run directory of an autoencoder or VAE.")],
    top: Annotated[int, typer.Option(help="How many of the worst-reconstructed images to show.")] = 16,
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG of the worst test images (top row) "
                                      "over their reconstructions.")] = Path("anomalies.png"),
    data_dir: Annotated[Optional[str], typer.Option(help="Where to find the data set.")] = None,
) -> None:
    """Score every test image by reconstruction error; show the worst ones and each class's mean.

    An autoencoder reconstructs what it learnt well; images it reconstructs badly are unusual
    for the training data (anomalies, rare styles, labelling mistakes).
    """
    def go() -> None:
        from gradkit.gallery import anomaly_scores

        s = anomaly_scores(_api().load(run_dir), top, out, data_dir)
        console.print(f"{s['count']} test images, reconstruction error per pixel: mean {s['mean']:.4f}, "
                      f"median {s['median']:.4f}, 90th percentile {s['p90']:.4f}, 99th {s['p99']:.4f}",
                      highlight=False)
        table = Table(title=f"the {len(s['worst'])} worst reconstructed")
        for col in ("rank", "test index", "label", "error"):
            table.add_column(col)
        for i, w in enumerate(s["worst"], start=1):
            table.add_row(str(i), str(w["index"]), w["label"], f"{w['score']:.4f}")
        console.print(table)
        by_class = Table(title="mean error per class (highest first)")
        by_class.add_column("class")
        by_class.add_column("mean error", justify="right")
        for name, value in s["per_class"].items():
            by_class.add_row(name, f"{value:.4f}")
        console.print(by_class)
        console.print(f"worst images over their reconstructions: {s['path']}", highlight=False)

    _guard(go)


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
    """
    from gradkit.tune.study import tune

    items = list(overrides or [])
    if recipe and "=" in recipe:
        items.insert(0, recipe)
        recipe = None
    _guard(lambda: tune(recipe, space=space, trials=trials, config_file=config, overrides=items,
                        metric=metric, direction=direction, jobs=jobs, pruner=pruner, out=out,
                        verbose=not quiet))


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

    items = list(overrides or [])
    if recipe and "=" in recipe:
        items.insert(0, recipe)
        recipe = None
    _guard(lambda: lr_find(recipe, config_file=config, overrides=items, start=start, end=end,
                           steps=steps, out=out))


@app.command()
def explain(
    run_dir: Annotated[Path, typer.Argument(help="A classification run directory (images, table "
                                            "rows or texts).")],
    method: Annotated[str, typer.Option("--method", "-m", help="integrated-gradients | saliency | "
                                        "occlusion | gradcam (CNNs) | shap (GradientShap).")
                      ] = "integrated-gradients",
    n: Annotated[int, typer.Option("--n", "-n", help="Test examples to explain; half are "
                                   "misclassified ones when there are enough.")] = 16,
    steps: Annotated[int, typer.Option(help="Integration steps (integrated-gradients) or samples "
                                       "(shap).")] = 32,
    data_dir: Annotated[Optional[str], typer.Option(help="Where to find the data set.")] = None,
) -> None:
    """Explain a classifier's test predictions with Captum: which pixels, features or tokens
    pushed it towards the class it predicted.

    gradkit explain RUN_DIR   (integrated gradients on 16 test examples)

    gradkit explain runs/digits-cnn/RUN -m gradcam   (a CNN's heat maps)

    gradkit explain runs/iris-mlp/RUN -m shap -n 30   (feature importance)

    Files go to RUN_DIR/artifacts/explanations/; report.html shows them.
    Each classification run explains 8 test examples as it ends; train with
    output.explain=false to skip that.

    Needs Captum: pip install 'gradkit\\[explain]'.
    """
    from gradkit.explain.cli import run

    _guard(lambda: run(run_dir, method, n, steps, data_dir, console))
