"""Small database jobs from concurrent tasks, run together in one transaction.

A cycle analyses up to `MAX_CONCURRENCY` tickers at once, and each makes a few tiny reads and
writes: its sentiment cache, one call-log row per LLM call. In a session each, the session and
commit machinery costs more CPU than the statements, and that CPU is what concurrent tickers
queue for. Here, jobs that arrive while a batch is running wait for the next batch, and each batch
is one session on one worker thread. A lone job is never held back by a timer: it starts at once.

Failure contract: if any job of a batch raises, the batch is rolled back and each of its jobs runs
again alone in its own session, so one job's error (say an IntegrityError from a race) reaches
only its own caller and the others' work is kept.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session

from orchestrator.store.db import session_scope

log = logging.getLogger(__name__)

T = TypeVar("T")
Job = Callable[[Session], Any]
_Queued = tuple[Job, asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


class SessionBatcher:
    """Runs `job(session)` callables for asyncio callers, batched as the module doc says."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._queue: list[_Queued] = []
        self._draining = False

    def submit(self, job: Callable[[Session], T]) -> asyncio.Future[T]:
        """Queue `job`; the future holds its result or exception. The batch runs as an executor
        job, not a task, so a loop that shuts down still waits for it (nothing half-written)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._lock:
            self._queue.append((job, loop, future))
            start, self._draining = not self._draining, True
        if start:
            loop.run_in_executor(None, self._drain)
        return future

    async def run(self, job: Callable[[Session], T]) -> T:
        return await self.submit(job)

    def _drain(self) -> None:
        while True:
            with self._lock:
                batch, self._queue = self._queue, []
                if not batch:
                    self._draining = False
                    return
            try:
                self._run_batch(batch)
            except BaseException as exc:  # never leave a caller waiting forever
                for _, loop, future in batch:
                    _settle(loop, future, error=exc)
                if not isinstance(exc, Exception):
                    with self._lock:
                        self._draining = False
                    raise

    def _run_batch(self, batch: list[_Queued]) -> None:
        try:
            with session_scope(self.engine) as session:
                results = [job(session) for job, _, _ in batch]
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], batch[0][2], error=exc)
                return
            log.debug("a batched job failed (%s); running the %d jobs alone", exc, len(batch))
            for job, loop, future in batch:
                try:
                    with session_scope(self.engine) as session:
                        result = job(session)
                except Exception as alone:
                    _settle(loop, future, error=alone)
                else:
                    _settle(loop, future, result=result)
            return
        for (_, loop, future), result in zip(batch, results, strict=True):
            _settle(loop, future, result=result)


def _settle(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[Any],
    *,
    result: Any = None,
    error: BaseException | None = None,
) -> None:
    def apply() -> None:
        if future.done():  # the caller was cancelled; the work is done all the same
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    try:
        loop.call_soon_threadsafe(apply)
    except RuntimeError:  # that loop has closed: nobody is waiting any more
        pass


_BATCHERS: weakref.WeakKeyDictionary[Engine, SessionBatcher] = weakref.WeakKeyDictionary()
_BATCHERS_LOCK = threading.Lock()


def batcher_for(engine: Engine) -> SessionBatcher:
    """The one batcher of `engine` (one per engine, so all its callers share batches)."""
    with _BATCHERS_LOCK:
        found = _BATCHERS.get(engine)
        if found is None:
            found = _BATCHERS[engine] = SessionBatcher(engine)
        return found
