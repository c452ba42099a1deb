"""Request batching: the examples of concurrent /predict requests run as one model call.

While one model call runs, the requests that arrive queue; when it returns, the queued ones
(up to `max_examples` examples, the same input shape) go to the model together and each gets its
own rows back. With no concurrency nothing waits: a lone request runs at once, unless
`window_ms` asks the first request of a batch to wait that long for company (more batching
under light load, for that much latency). Off by default: `gradkit serve --batch N
--batch-window-ms W` turns it on. Measured in benchmarks/serve_load.py (results/serve_load.json):
on digits-cnn, whose model call costs a fraction of a millisecond, it does not pay (0.89-0.90x
the throughput at 4 and 16 clients); it is meant for models whose call dominates a request.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from starlette.concurrency import run_in_threadpool


@dataclass(frozen=True)
class Batching:
    # most examples per model call; 1 (the default): no batching. On digits-cnn, whose model call
    # is a fraction of a millisecond, batching lowered throughput ~10% at 4 and 16 clients
    # (results/serve_load.json); it is for models whose call dominates a request
    max_examples: int = 1
    window_ms: float = 0.0  # how long the first request of a batch waits for others

    @property
    def on(self) -> bool:
        return self.max_examples > 1


class Batcher:
    """`await batcher(x)` -> `predict(x)`, with concurrent calls' arrays merged along axis 0.

    Arrays are merged only with arrays of the same trailing shape and dtype; anything else (a
    list of texts) runs alone. When a merged call raises, each request is run again alone, so
    one request's failure reaches that request only.
    """

    def __init__(self, predict: Callable[[Any], np.ndarray], batching: Batching) -> None:
        self.predict = predict
        self.batching = batching
        self._pending: list[tuple[np.ndarray, asyncio.Future]] = []
        self._worker: asyncio.Task | None = None
        self.calls = 0  # model calls made (for tests and /metadata)

    async def __call__(self, batch: Any) -> np.ndarray:
        if not (self.batching.on and isinstance(batch, np.ndarray) and batch.ndim >= 1
                and len(batch) < self.batching.max_examples):
            self.calls += 1
            return await run_in_threadpool(self.predict, batch)
        future = asyncio.get_running_loop().create_future()
        self._pending.append((batch, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return await future

    def _take(self) -> list[tuple[np.ndarray, asyncio.Future]]:
        """The oldest pending request and those after it that fit with it (shape, dtype, size)."""
        first = self._pending[0][0]
        taken, rest, size = [], [], 0
        for item in self._pending:
            x = item[0]
            fits = x.shape[1:] == first.shape[1:] and x.dtype == first.dtype
            if fits and size + len(x) <= self.batching.max_examples:
                taken.append(item)
                size += len(x)
            else:
                rest.append(item)
        self._pending = rest
        return taken

    async def _drain(self) -> None:
        while self._pending:
            if self.batching.window_ms > 0:
                await asyncio.sleep(self.batching.window_ms / 1000)
            group = self._take()
            group = [(x, f) for x, f in group if not f.cancelled()]  # a client went away
            if not group:
                continue
            self.calls += 1
            try:
                out = await run_in_threadpool(self.predict, np.concatenate([x for x, _ in group]))
            except Exception:  # noqa: BLE001 - rerun each alone: the failure is one request's
                for x, f in group:
                    await self._alone(x, f)
                continue
            start = 0
            for x, f in group:
                if not f.done():
                    f.set_result(out[start:start + len(x)])
                start += len(x)

    async def _alone(self, x: np.ndarray, future: asyncio.Future) -> None:
        self.calls += 1
        try:
            result = await run_in_threadpool(self.predict, x)
        except Exception as exc:  # noqa: BLE001 - handed to the request that caused it
            if not future.done():
                future.set_exception(exc)
            return
        if not future.done():
            future.set_result(result)
