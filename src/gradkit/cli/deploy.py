"""Taking a model out of gradkit: `gradkit export` (checked files, gradkit/export) and
`gradkit serve` (HTTP, gradkit/serve)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gradkit.cli.app import app, console, guard


@app.command()
def export(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (or a bundle).")],
    format: Annotated[str, typer.Option("--format", "-f", help="onnx|torchscript|torch-export|bundle.")] = "bundle",
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="File (folder for a bundle); "
                                                "default RUN_DIR/export/.")] = None,
    data_dir: Annotated[Optional[str], typer.Option(help="Where the run's data set is now.")] = None,
) -> None:
    """Export the best model, checked against the original on the run's test data."""
    guard(lambda: _export(run_dir, format, out, data_dir))


@app.command()
def serve(
    path: Annotated[Path, typer.Argument(help="A run directory or a bundle.")],
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    max_body_mb: Annotated[float, typer.Option(help="Largest request body, MB.")] = 10.0,
    max_batch: Annotated[int, typer.Option(help="Most examples per request.")] = 256,
    max_text_chars: Annotated[int, typer.Option(help="Longest text, characters.")] = 10_000,
    max_image_pixels: Annotated[int, typer.Option(help="Largest image, width x height.")] = 4096 * 4096,
    max_request_pixels: Annotated[int, typer.Option(
        help="Most pixels of all the images of one request together (decoding is the costly part).")
    ] = 64 * 2**20,
    threads: Annotated[int, typer.Option(help="Torch threads per prediction.")] = 2,
    batch: Annotated[int, typer.Option(
        help="Run the examples of concurrent requests as one model call, up to N examples (1, "
             "the default: each request alone; worth it when the model call dominates a request).")] = 1,
    batch_window_ms: Annotated[float, typer.Option(
        help="How long the first request of a batch waits for others, ms (0: never; requests "
             "that arrive while the model runs are batched anyway).")] = 0.0,
) -> None:
    """Serve a model over HTTP: POST /predict, GET /health, /metadata; a drawing page at /."""
    guard(lambda: _serve(path, host, port, max_body_mb, max_batch, max_text_chars,
                         max_image_pixels, max_request_pixels, threads, batch, batch_window_ms))


def _export(run_dir: Path, format: str, out: Path | None, data_dir: str | None) -> None:
    from gradkit.export import export

    record = export(run_dir, format, out, data_dir)
    check = record["check"]
    console.print(f"{format}: [bold]{record['path']}[/]", soft_wrap=True, highlight=False)
    console.print(f"checked on {check['n_examples']} test examples: max abs difference "
                  f"{check['max_abs_diff']:.3g} (tolerance {check['atol']:g} + {check['rtol']:g} x |value|)",
                  highlight=False)


def _serve(path: Path, host: str, port: int, max_body_mb: float, max_batch: int,
                  max_text_chars: int, max_image_pixels: int, max_request_pixels: int,
                  threads: int, batch: int, batch_window_ms: float) -> None:
    from gradkit.errors import GradkitError
    from gradkit.serve import Batching, Limits, serve

    if min(max_body_mb, max_batch, max_text_chars, max_image_pixels, max_request_pixels) <= 0:
        raise GradkitError("the limits (--max-body-mb, --max-batch, --max-text-chars, "
                           "--max-image-pixels, --max-request-pixels) must be positive")
    limits = Limits(int(max_body_mb * 2**20), max_batch, max_text_chars, max_image_pixels,
                    max_request_pixels)
    if batch < 1 or not 0 <= batch_window_ms <= 1000:
        raise GradkitError(f"--batch {batch} / --batch-window-ms {batch_window_ms:g}: --batch is a "
                           "number of examples, at least 1 (1: no batching); --batch-window-ms is "
                           "0 to 1000 (0: no waiting)")
    serve(path, host, port, limits, threads, batching=Batching(batch, batch_window_ms))
