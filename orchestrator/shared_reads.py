"""One database read for a burst of identical requests, none of them served stale data.

When 50 chats send /status in the same second, each request would take a thread of the pool,
open a session and run the same queries, and the 50 reads would queue for the interpreter lock
one behind the other (docs/benchmarks/bot.md). A read that is still waiting for a thread has
not looked at the database yet, so every identical request that arrives before it starts can
take its result and still see everything written before it asked. Once the read has started,
a new request starts its own: it may have been sent after a write the running read missed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class SharedReads:
    """Run blocking reads in the loop's thread pool, sharing a read that has not started yet
    among the requests with the same key. The result is shared: callers must not change it."""

    def __init__(self) -> None:
        self._waiting: dict[Hashable, asyncio.Future[Any]] = {}

    async def run(self, key: Hashable, read: Callable[[], T]) -> T:
        waiting = self._waiting.get(key)
        # A read left waiting by a loop that has ended (a test, a restarted console) never ends.
        if waiting is None or waiting.get_loop() is not asyncio.get_running_loop():
            waiting = asyncio.ensure_future(asyncio.to_thread(self._start, key, read))
            waiting.add_done_callback(lambda done: self._forget(key, done))
            self._waiting[key] = waiting
        # Shielded: one chat giving up (its handler cancelled) must not cancel the others' read.
        return await asyncio.shield(waiting)

    def _start(self, key: Hashable, read: Callable[[], T]) -> T:
        # In the worker thread, before the first query: requests arriving from now on read anew.
        # Only the loop adds keys, and only absent ones, so this removes this read's own entry.
        self._waiting.pop(key, None)
        return read()

    def _forget(self, key: Hashable, done: asyncio.Future[Any]) -> None:
        # A read that never reached `_start` (the pool shut down) must not answer later requests.
        if self._waiting.get(key) is done:
            del self._waiting[key]
        if not done.cancelled():
            done.exception()  # retrieved here: every caller may have given up already

    @property
    def waiting(self) -> int:
        """Reads queued and not started (for tests and diagnostics)."""
        return len(self._waiting)
