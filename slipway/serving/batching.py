"""Adaptive batching for a replica: concurrent requests' rows go to the model in one call.

No timer by default: a batch is whatever arrived while the model was busy (or, for a model called on
the event loop, whatever arrived in the same turn of the loop), so one caller alone pays nothing but a
future, and a busy replica calls the model less often with more rows. ``max_wait`` adds a deliberate
wait for a fuller batch. Each request's rows stay together (never split across batches) and each caller
gets exactly its own predictions back, in order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

import numpy as np

__all__ = ["Batcher"]

log = logging.getLogger("slipway.batching")
Predict = Callable[[np.ndarray], list[Any]]


class Batcher:
    def __init__(self, predict: Predict, max_batch_size: int, max_wait: float, executor: Executor | None) -> None:
        """``executor`` None: the model is called on the event loop (fast models); else on that executor."""
        self.predict = predict
        self.max_batch_size = max(1, max_batch_size)
        self.max_wait = max(0.0, max_wait)
        self.executor = executor
        self.pending: list[tuple[np.ndarray, asyncio.Future[list[Any]]]] = []
        self.rows = 0
        self.batches = 0  # model calls made
        self.batched_requests = 0
        self._busy = False
        self._timer: asyncio.TimerHandle | None = None

    async def submit(self, x: np.ndarray) -> list[Any]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[list[Any]] = loop.create_future()
        self.pending.append((x, fut))
        self.rows += len(x)
        if not self._busy:
            self._busy = True
            if self.max_wait > 0 and self.rows < self.max_batch_size:
                self._timer = loop.call_later(self.max_wait, self._start, loop)
            else:
                loop.call_soon(self._start, loop)
        elif self._timer is not None and self.rows >= self.max_batch_size:
            self._timer.cancel()
            self._timer = None
            loop.call_soon(self._start, loop)
        return await fut

    def _take(self) -> list[tuple[np.ndarray, asyncio.Future[list[Any]]]]:
        """Whole requests up to max_batch_size rows (at least one, however many rows it has)."""
        n, rows = 0, 0
        for x, _ in self.pending:
            if n and rows + len(x) > self.max_batch_size:
                break
            n += 1
            rows += len(x)
        batch, self.pending = self.pending[:n], self.pending[n:]
        self.rows -= rows
        return batch

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        if self.executor is None:
            try:
                while self.pending:
                    batch = self._take()
                    self._deliver(batch, self._run(batch))
            finally:
                self._busy = False
        else:
            loop.create_task(self._drain_threaded(loop))

    async def _drain_threaded(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            while self.pending:
                batch = self._take()
                result = await loop.run_in_executor(self.executor, self._run, batch)
                self._deliver(batch, result)
        finally:
            self._busy = False

    def _run(self, batch: list[tuple[np.ndarray, asyncio.Future[list[Any]]]]) -> list[Any] | BaseException:
        self.batches += 1
        self.batched_requests += len(batch)
        try:
            x = batch[0][0] if len(batch) == 1 else np.concatenate([x for x, _ in batch])
            return self.predict(x)
        except Exception as exc:
            if len(batch) == 1:
                return exc
            # One request's rows may be what the model chokes on: answer each on its own.
            out: list[Any] = []
            for x, _ in batch:
                try:
                    out.extend(self.predict(x))
                except Exception as one:
                    out.extend([one] * len(x))
            return out

    @staticmethod
    def _deliver(batch: list[tuple[np.ndarray, asyncio.Future[list[Any]]]], result: list[Any] | BaseException
                 ) -> None:
        start = 0
        for x, fut in batch:
            if fut.done():  # the caller gave up (timeout, disconnect)
                start += len(x)
                continue
            if isinstance(result, BaseException):
                fut.set_exception(result)
                continue
            mine = result[start:start + len(x)]
            start += len(x)
            failed = next((p for p in mine if isinstance(p, BaseException)), None)
            if failed is not None:
                fut.set_exception(failed)
            else:
                fut.set_result(mine)
