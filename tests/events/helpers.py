"""Polling helper for tests of background consumers (events, work queue, scheduler)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

STEP_SECONDS = 0.02


async def eventually(
    predicate: Callable[[], bool | Awaitable[bool]], *, within_seconds: float = 5.0
) -> None:
    """Return once `predicate()` is true; fail the test if it is not within the time."""
    for _ in range(int(within_seconds / STEP_SECONDS) + 1):
        outcome = predicate()
        if inspect.isawaitable(outcome):
            outcome = await outcome
        if outcome:
            return
        await asyncio.sleep(STEP_SECONDS)
    raise AssertionError(f"condition not met within {within_seconds} s")
