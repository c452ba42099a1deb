"""The ASGI app (FastAPI): /predict, /health, /metadata and, for image classifiers, the page at /.

Every failure a client can cause answers 4xx with `{"error": "...", "status": N}`; a 500 is a
gradkit bug (the fuzz tests in tests/test_serve.py look for one).
"""
from __future__ import annotations

import time
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request  # module level: FastAPI resolves the routes' annotations here
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from gradkit.serve.batching import Batcher, Batching
from gradkit.serve.parse import Limits, Parsed, RequestError, parse_form, parse_json, read_body

SERVED = ("classes", "values", "forecasts")  # what a served model's predict() may give


def create_app(run: Any, limits: Limits = Limits(), source: str | None = None,
               batching: Batching = Batching()) -> Any:
    """The app serving a loaded gradkit Run (`gk.load(run_dir_or_bundle)`); concurrent requests'
    examples run as one model call (`batching`, gradkit.serve.batching).

    >>> from fastapi.testclient import TestClient
    >>> client = TestClient(create_app(gk.load("runs/digits-cnn/...")))
    >>> client.post("/predict", json={"inputs": images.tolist()}).json()["predictions"][0]["label"]
    """
    from gradkit.errors import GradkitError

    if run.task.outputs not in SERVED:
        raise GradkitError("gradkit serve serves classification, regression and forecast models; "
                           f"this run does {run.spec.task} (use gradkit sample or gradkit reconstruct)")
    classes = run.spec.num_classes if run.classifies else None
    # no /docs: Swagger UI loads its scripts from a CDN; /openapi.json works offline
    app = FastAPI(title=f"gradkit: {run.config.name}", docs_url=None, redoc_url=None)
    meta = {**metadata(run, limits, source), "batching": vars(batching)}
    started = time.time()
    batcher = Batcher(run.predict, batching)
    app.state.batcher = batcher

    @app.exception_handler(RequestError)
    async def _bad_request(request: Request, exc: RequestError) -> JSONResponse:
        return JSONResponse({"error": exc.message, "status": exc.status}, status_code=exc.status)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:  # 404, 405, ...
        return JSONResponse({"error": str(exc.detail), "status": exc.status_code},
                            status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": str(exc.errors())[:500], "status": 422}, status_code=422)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model": run.config.name, "uptime_seconds": round(time.time() - started, 1)}

    @app.get("/metadata")
    async def get_metadata() -> dict[str, Any]:
        return meta

    @app.post("/predict")
    async def predict(request: Request) -> JSONResponse:
        body = await read_body(request, limits.max_body_bytes)
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "multipart/form-data":
            parsed = await parse_form(request, run.spec, limits, classes)
        elif kind in ("application/json", ""):  # JSON, base64 and images decode off the event loop
            parsed = await run_in_threadpool(parse_json, body, run.spec, limits, classes)
        else:
            raise RequestError(415, f"content type '{kind[:60]}' is not served: send application/json "
                                    "or multipart/form-data (image files)")
        out = await batcher(parsed.batch)
        return JSONResponse(respond(run, parsed, out))

    # the page is read once, here, not on every GET /
    if run.classifies and run.spec.kind == "image":
        home = files("gradkit.serve").joinpath("page.html").read_text(encoding="utf-8")
    else:
        home = (f"<!doctype html><title>gradkit serve</title><p>{run.config.name}: "
                "POST JSON to /predict; see /metadata and /openapi.json.</p>")

    @app.get("/", response_class=HTMLResponse)
    async def page() -> HTMLResponse:
        return HTMLResponse(home)

    return app


def respond(run: Any, parsed: Parsed, out: np.ndarray) -> dict[str, Any]:
    """Model outputs -> JSON: top-k labels with probabilities, or values."""
    if not run.classifies:
        return {"predictions": out.tolist()}
    names = run.spec.class_names or [str(i) for i in range(out.shape[1])]
    top = np.argsort(-out, axis=1)[:, :parsed.top_k]
    preds = [{"label": names[row[0]], "index": int(row[0]), "probability": float(p[row[0]]),
              "top": [{"label": names[j], "index": int(j), "probability": float(p[j])} for j in row]}
             for p, row in zip(out, top)]
    result: dict[str, Any] = {"predictions": preds}
    if any(parsed.notes):
        result["notes"] = parsed.notes
    return result


def metadata(run: Any, limits: Limits, source: str | None) -> dict[str, Any]:
    """What a client needs to call /predict: the input, the labels, the limits."""
    from gradkit.version import __version__
    from gradkit.data.inputs import describe_input

    spec = run.spec
    accepts = {"image": ['{"inputs": [...]} raw pixel arrays', '{"images": ["<base64>"]}',
                         "multipart/form-data image files"],
               "text": ['{"texts": ["..."]}', '{"text": "..."}']}.get(spec.kind, ['{"inputs": [...]}'])
    return {"name": run.config.name, "source": source or str(Path(run.dir)), "task": spec.task,
            "kind": spec.kind, "input": describe_input(spec), "labels": spec.class_names,
            "accepts": accepts, "metrics": {k: v for k, v in run.metrics.items() if k.startswith("test/")},
            "limits": vars(limits), "gradkit_version": __version__}
