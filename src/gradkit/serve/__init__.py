"""Serve a trained run or bundle over HTTP (FastAPI on uvicorn).

    gradkit serve runs/digits-cnn/20260101-120000-s0 --port 8000
    curl localhost:8000/metadata
    curl -F file=@digit.png localhost:8000/predict
    curl -H 'content-type: application/json' -d '{"inputs": [[...]]}' localhost:8000/predict

Open http://localhost:8000/ for an image classifier's page: draw or upload, see the top classes.
"""
from __future__ import annotations

from pathlib import Path

from gradkit.serve.batching import Batching
from gradkit.serve.parse import Limits, RequestError

DEFAULT_THREADS = 2  # torch threads per prediction: requests run side by side in a thread pool


def build_app(path: str | Path, limits: Limits = Limits(), threads: int | None = DEFAULT_THREADS,
              batching: Batching = Batching()):
    """Load a run directory or bundle and return the ASGI app (for uvicorn or a test client).

    >>> app = build_app("my-bundle")   # then: uvicorn.run(app, port=8000)
    """
    import torch

    from gradkit.engine import load
    from gradkit.serve.app import create_app

    if threads:
        torch.set_num_threads(threads)
    return create_app(load(path), limits, str(path), batching)


def serve(path: str | Path, host: str = "127.0.0.1", port: int = 8000, limits: Limits = Limits(),
          threads: int | None = DEFAULT_THREADS, log_level: str = "info",
          batching: Batching = Batching()) -> None:
    """Serve `path` (run directory or bundle) until interrupted."""
    from gradkit.errors import GradkitError

    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise GradkitError(f"port {port} is not a TCP port: choose one from 1 to 65535 "
                           f"(e.g. --port 8000)")
    try:
        import fastapi  # noqa: F401
        import multipart  # noqa: F401  (python-multipart: image uploads)
        import uvicorn
    except ImportError as exc:
        raise GradkitError(f"gradkit serve needs the serve extra ({exc.name} is missing): "
                           "pip install 'gradkit[serve]'") from None
    app = build_app(path, limits, threads, batching)
    print(f"gradkit: serving {path} on http://{host}:{port}/  (POST /predict, GET /health, "
          "GET /metadata, GET /openapi.json)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level=log_level)


__all__ = ["Batching", "Limits", "RequestError", "build_app", "serve"]
