"""Drawing from trained generative runs: `gradkit sample` (text or images), `reconstruct`,
`anomaly` (gradkit/sampling.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from gradkit.cli.app import app, console, guard


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
    guard(lambda: _sample(run_dir, n, out, prompt, tokens, temperature, top_k, seed))


def _sample(run_dir: Path, n: int, out: Path, prompt: str, tokens: int, temperature: float,
            top_k: int | None, seed: int | None) -> None:
    import warnings

    from gradkit import api
    from gradkit.errors import GradkitError
    from gradkit.sampling import SAMPLES, can_sample, generate, sample_grid

    run = api.load(run_dir)
    if not can_sample(run):
        raise GradkitError(f"gradkit sample does not support task '{run.spec.task}'; it samples from "
                           f"{SAMPLES} (e.g. gradkit train fashion-vae, charlm-lstm)")
    if run.task.outputs != "next-token":  # images from a decoder or generator
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
        from gradkit import api
        from gradkit.sampling import reconstruct_files

        path, rows = reconstruct_files(api.load(run_dir), images, out, invert)
        for name, error, notes in rows:
            extra = f"  [dim]({'; '.join(notes)})[/]" if notes else ""
            console.print(f"{name}: mean squared error {error:.4f} per pixel{extra}", highlight=False)
        console.print(f"inputs over reconstructions: {path}", highlight=False)

    guard(go)


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
        from gradkit import api
        from gradkit.sampling import anomaly_scores

        s = anomaly_scores(api.load(run_dir), top, out, data_dir)
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

    guard(go)
