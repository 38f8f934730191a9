"""Opportunistic batching: requests that arrive while the model is busy are predicted together, in one call.

A forgeml pipeline costs milliseconds per call whatever the number of rows (pandas and scikit-learn overhead),
so under concurrent load one call for the queued requests answers them several times faster than one call each.
Nothing waits for a batch to fill: a request that finds the model idle is predicted at once.

A batch is only formed from frames whose columns have the same dtypes (so the concatenation reads every value as
each frame alone would), and never for a schema with date columns (date parsing guesses a format from the whole
column). If a batch fails, each of its requests is predicted alone, so that a bad request gets its own error and
its neighbours their answers.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import anyio
import numpy as np
import pandas as pd


class Batcher:
    """Calls ``fn(frame)`` in one worker thread, one call at a time, batching queued frames up to ``max_rows``."""

    def __init__(self, fn: Callable[[pd.DataFrame], Any], limiter: anyio.CapacityLimiter, *, max_rows: int = 2048,
                 enabled: bool = True) -> None:
        self.fn, self.max_rows, self.enabled = fn, max_rows, enabled
        self._queue: list[tuple[pd.DataFrame, asyncio.Future]] = []
        self._worker: asyncio.Task | None = None
        self._limiter = limiter  # shared by the batchers of one model: one call into it at a time
        self.requests = self.calls = 0  # frames answered, calls into the model (fewer when batching pays)

    async def __call__(self, frame: pd.DataFrame) -> Any:
        future = asyncio.get_running_loop().create_future()
        self._queue.append((frame, future))
        if self._worker is None:
            self._worker = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                await self._run(self._take())
        finally:
            self._worker = None

    def _take(self) -> list[tuple[pd.DataFrame, asyncio.Future]]:
        first = self._queue.pop(0)
        batch, rows = [first], len(first[0])
        if not self.enabled:
            return batch
        dtypes, rest = list(first[0].dtypes), []
        for item in self._queue:
            if rows + len(item[0]) <= self.max_rows and list(item[0].dtypes) == dtypes:
                batch.append(item)
                rows += len(item[0])
            else:
                rest.append(item)
        self._queue = rest
        return batch

    async def _call(self, frame: pd.DataFrame) -> Any:
        self.calls += 1
        return await anyio.to_thread.run_sync(self.fn, frame, limiter=self._limiter)

    async def _run(self, batch: list[tuple[pd.DataFrame, asyncio.Future]]) -> None:
        batch = [(f, fut) for f, fut in batch if not fut.done()]  # a client that left is not predicted for
        self.requests += len(batch)
        if len(batch) > 1:
            try:
                out = await self._call(pd.concat([f for f, _ in batch], ignore_index=True))
            except Exception:  # some request's rows are bad: each alone below, so each gets its own answer
                pass
            else:
                start = 0
                for f, fut in batch:
                    part = out.iloc[start:start + len(f)] if isinstance(out, pd.DataFrame) else \
                        np.asarray(out)[start:start + len(f)]
                    start += len(f)
                    if not fut.done():
                        fut.set_result(part)
                return
        for f, fut in batch:
            try:
                result = await self._call(f)
            except Exception as exc:
                if not fut.done():
                    fut.set_exception(exc)
            else:
                if not fut.done():
                    fut.set_result(result)
