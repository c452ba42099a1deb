"""Turn an HTTP request into model inputs, or into a 4xx `RequestError` that says what is wrong.

Everything a client sends is untrusted: the body is read up to a size limit, JSON and base64
are decoded defensively, images are opened header-first so a huge one is refused before it is
decompressed, and the shape, type and length of what arrives are checked against the model.
"""
from __future__ import annotations

import base64
import binascii
import io
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradkit.errors import DataError, did_you_mean

JSON_KEYS = ("inputs", "images", "texts", "text", "top_k", "invert")
FORM_FIELDS = ("top_k", "invert")


class RequestError(Exception):
    """A bad request: HTTP `status` (4xx) and a message for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class Limits:
    """What one request may hold; `gradkit serve --max-body-mb ...` sets them."""

    max_body_bytes: int = 10 * 2**20
    max_batch: int = 256  # examples (rows, images, texts) per request
    max_text_chars: int = 10_000
    max_image_pixels: int = 4096 * 4096  # width x height of one uploaded image, before resizing
    # all the images of one request together (decoding is the costly part of a request)
    max_request_pixels: int = 64 * 2**20


@dataclass
class Parsed:
    """What to run: a raw batch (array or list of texts) and per-request options."""

    batch: Any
    top_k: int = 3
    invert: str = "auto"
    notes: list[list[str]] = field(default_factory=list)  # per example: what was done to it


async def read_body(request: Any, limit: int) -> bytes:
    """The body, refused with 413 as soon as it exceeds `limit` (declared or streamed)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"the request body has {int(declared):,} bytes; this server takes "
                                f"at most {limit:,} (gradkit serve --max-body-mb)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"the request body exceeds {limit:,} bytes (gradkit serve --max-body-mb)")
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # Starlette's form parser then reads these bytes, not the spent stream
    return body


def parse_json(body: bytes, spec: Any, limits: Limits, classes: int | None = None) -> Parsed:
    """`{"inputs": [...]}`, `{"images": [base64, ...]}` or `{"texts": [...]}` (+ top_k, invert).
    `classes`: how many classes a classifier tells apart (None: the model predicts values)."""
    try:
        obj = json.loads(body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise RequestError(400, f"the body is not valid JSON ({str(exc)[:100]})") from None
    if not isinstance(obj, dict):
        raise RequestError(422, 'send a JSON object such as {"inputs": [[...]]}, {"images": '
                                '["<base64 PNG>"]} or {"texts": ["..."]}')
    for key in obj:
        if key not in JSON_KEYS:
            raise RequestError(422, f"unknown key '{str(key)[:40]}'{did_you_mean(key, JSON_KEYS)}; "
                                    f"valid keys: {', '.join(JSON_KEYS)}")
    given = [k for k in ("inputs", "images", "texts", "text") if k in obj]
    if len(given) != 1:
        raise RequestError(422, "send exactly one of inputs, images, texts or text "
                                f"(got {', '.join(given) or 'none'})")
    parsed = Parsed(None, *_options(obj.get("top_k"), obj.get("invert", "auto"), spec, classes))
    key = given[0]
    if key == "inputs":
        parsed.batch = parse_array(obj["inputs"], spec, limits)
    elif key == "images":
        images = obj["images"] if isinstance(obj["images"], list) else [obj["images"]]
        _count(len(images), limits)
        decoded = decode_images([(_b64(v, i), f"images[{i}]") for i, v in enumerate(images)],
                                spec, parsed.invert, limits)
        parsed.batch, parsed.notes = _stack(decoded)
    else:
        parsed.batch = parse_texts([obj[key]] if key == "text" else obj[key], spec, limits)
    return parsed


async def parse_form(request: Any, spec: Any, limits: Limits, classes: int | None = None) -> Parsed:
    """multipart/form-data: image files (any field name) plus optional top_k and invert fields."""
    try:
        form = await request.form(max_files=limits.max_batch, max_fields=len(FORM_FIELDS) + 1)
    except Exception as exc:  # python-multipart's errors on a malformed body have several types
        raise RequestError(400, f"malformed multipart body ({getattr(exc, 'detail', exc)})") from None
    files, fields = [], {}
    try:
        for name, value in form.multi_items():
            if hasattr(value, "read"):
                files.append((name, await value.read()))
            elif name in FORM_FIELDS:
                fields[name] = value
            else:
                raise RequestError(422, f"unknown form field '{name[:40]}'; send image files and "
                                        f"optionally {', '.join(FORM_FIELDS)}")
    finally:
        await form.close()  # uploads larger than 1 MB were spooled to temporary files
    if not files:
        raise RequestError(422, "the form holds no file: send each image as a file field, e.g. "
                                "curl -F file=@digit.png")
    _count(len(files), limits)
    parsed = Parsed(None, *_options(fields.get("top_k"), fields.get("invert", "auto"), spec, classes))
    from starlette.concurrency import run_in_threadpool

    decoded = await run_in_threadpool(decode_images, [(data, f"file '{name[:40]}'") for name, data in files],
                                      spec, parsed.invert, limits)  # off the event loop
    parsed.batch, parsed.notes = _stack(decoded)
    return parsed


def parse_array(value: Any, spec: Any, limits: Limits) -> Any:
    """Nested lists of numbers -> a checked raw batch (N, *input_shape)."""
    from gradkit.data.inputs import as_batch

    if spec.kind == "text":
        raise RequestError(422, 'this model reads text: send {"texts": ["..."]}')
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError, OverflowError, RecursionError):  # ragged, or too deep
        arr = None
    if arr is None or arr.dtype.kind not in "iuf":  # strings, booleans, nulls, objects
        raise RequestError(422, "inputs must be numbers in nested lists of a regular shape, e.g. "
                                f"{_shape_hint(spec)}")
    with np.errstate(over="ignore"):
        arr = arr.astype(np.float32)  # beyond float32's range: inf, refused below
    if arr.ndim == 0 or arr.size == 0:
        raise RequestError(422, f"inputs must be a non-empty array, e.g. {_shape_hint(spec)}")
    if not np.isfinite(arr).all():
        raise RequestError(422, "inputs contain NaN or infinity")
    try:
        batch = as_batch(arr, spec)
    except DataError as exc:
        raise RequestError(422, str(exc)) from None
    _count(len(batch), limits)
    return batch


def parse_texts(value: Any, spec: Any, limits: Limits) -> list[str]:
    if spec.kind != "text":
        raise RequestError(422, f"this model reads {spec.kind} inputs, not text: send "
                                + ('{"images": [...]} or a file' if spec.kind == "image" else '{"inputs": [...]}'))
    if not isinstance(value, list) or not value or not all(isinstance(t, str) for t in value):
        raise RequestError(422, 'texts must be a non-empty list of strings, e.g. {"texts": ["a cat"]}')
    _count(len(value), limits)
    for i, text in enumerate(value):
        if len(text) > limits.max_text_chars:
            raise RequestError(413, f"text {i} has {len(text):,} characters; this server takes at "
                                    f"most {limits.max_text_chars:,} (gradkit serve --max-text-chars)")
    return value


def decode_images(items: list[tuple[bytes, str]], spec: Any, invert: str, limits: Limits
                  ) -> list[tuple[np.ndarray, list[str]]]:
    """Every image of a request: all headers are read and the limits checked (each image's
    pixels, and all of them together) before any pixel is decompressed."""
    opened = [_open(data, spec, limits, what) for data, what in items]
    total = sum(img.size[0] * img.size[1] for img, _ in opened)
    if total > limits.max_request_pixels:
        raise RequestError(413, f"the request's {len(opened)} images hold {total:,} pixels together; "
                                f"this server decodes at most {limits.max_request_pixels:,} per "
                                "request (gradkit serve --max-request-pixels): send fewer or smaller "
                                "images per request")
    return [_decode(img, spec, invert, what) for img, what in opened]


def decode_image(data: bytes, spec: Any, invert: str, limits: Limits, what: str) -> tuple[np.ndarray, list[str]]:
    """Encoded image bytes (PNG, JPEG, ...) -> a raw (C, H, W) array like the training images."""
    return decode_images([(data, what)], spec, invert, limits)[0]


def _open(data: bytes, spec: Any, limits: Limits, what: str) -> tuple[Any, str]:
    """The image's header (Pillow reads no pixel data yet), its size checked."""
    from PIL import Image

    if spec.kind != "image":
        raise RequestError(422, f"this model reads {spec.kind} inputs, not images: send "
                                + ('{"texts": [...]}' if spec.kind == "text" else '{"inputs": [...]}'))
    try:
        img = Image.open(io.BytesIO(data))  # reads the header only
        pixels = img.size[0] * img.size[1]
    except Exception as exc:  # Pillow's plugins raise many types on foreign or damaged data
        raise RequestError(422, f"{what} is not a readable image ({type(exc).__name__})") from None
    if pixels > limits.max_image_pixels:
        raise RequestError(413, f"{what} is {img.size[0]}x{img.size[1]} pixels; this server takes at "
                                f"most {limits.max_image_pixels:,} pixels per image")
    return img, what


def _decode(img: Any, spec: Any, invert: str, what: str) -> tuple[np.ndarray, list[str]]:
    from gradkit.data.inputs import image_array

    try:
        img.load()
        return image_array(img, spec, invert)
    except Exception as exc:  # truncated or corrupt pixel data, exotic modes
        raise RequestError(422, f"{what} could not be decoded as an image ({type(exc).__name__}: "
                                f"{str(exc)[:100]})") from None


def _b64(value: Any, i: int) -> bytes:
    if not isinstance(value, str):
        raise RequestError(422, f"images[{i}] must be a base64 string (optionally a data: URL)")
    if value.startswith("data:") and "," in value:
        value = value.split(",", 1)[1]
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(422, f"images[{i}] is not valid base64") from None


def _options(top_k: Any, invert: Any, spec: Any, classes: int | None) -> tuple[int, str]:
    """top_k (classifiers only; default 3, at most the number of classes) and invert."""
    if invert not in ("auto", "yes", "no"):
        raise RequestError(422, f"invert must be auto, yes or no, got {str(invert)[:40]!r}")
    if classes is None:
        if top_k is not None:
            raise RequestError(422, f"top_k applies to classifiers; this model does {spec.task}")
        return 1, invert
    try:
        k = 3 if top_k is None else int(top_k) if not isinstance(top_k, (bool, float)) else 0
    except (TypeError, ValueError):
        k = 0
    if not 1 <= k <= classes:
        raise RequestError(422, f"top_k must be an integer from 1 to {classes}, got {str(top_k)[:40]!r}")
    return min(k, classes), invert


def _count(n: int, limits: Limits) -> None:
    if n > limits.max_batch:
        raise RequestError(413, f"{n} examples in one request; this server takes at most "
                                f"{limits.max_batch} (gradkit serve --max-batch)")
    if n == 0:
        raise RequestError(422, "the request holds no example")


def _stack(decoded: list[tuple[np.ndarray, list[str]]]) -> tuple[np.ndarray, list[list[str]]]:
    return np.stack([arr for arr, _ in decoded]), [notes for _, notes in decoded]


def _shape_hint(spec: Any) -> str:
    shape = " x ".join(map(str, spec.input_shape))
    return f"one example of {shape} values or a batch of them"
