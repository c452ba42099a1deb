"""The body of `gradkit serve` (gradkit/cli.py holds only its wrapper)."""
from __future__ import annotations

from pathlib import Path


def serve_command(path: Path, host: str, port: int, max_body_mb: float, max_batch: int,
                  max_text_chars: int, max_image_pixels: int, threads: int) -> None:
    from gradkit.errors import GradkitError
    from gradkit.serve import Limits, serve

    if min(max_body_mb, max_batch, max_text_chars, max_image_pixels) <= 0:
        raise GradkitError("the limits (--max-body-mb, --max-batch, --max-text-chars, "
                           "--max-image-pixels) must be positive")
    limits = Limits(int(max_body_mb * 2**20), max_batch, max_text_chars, max_image_pixels)
    serve(path, host, port, limits, threads)
