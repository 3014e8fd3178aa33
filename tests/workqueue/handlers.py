"""Job handlers for the work-queue tests; importable by a `fingpt worker` subprocess too."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

from orchestrator.workqueue import job_handler, register_worker_cleanup

running = 0
most_running = 0


@job_handler("test.square")
async def square(payload: dict[str, Any]) -> dict[str, Any]:
    global running, most_running
    running += 1
    most_running = max(most_running, running)
    try:
        await asyncio.sleep(payload.get("sleep", 0.0))
        return {"square": payload["n"] ** 2, "pid": os.getpid()}
    finally:
        running -= 1


@job_handler("test.fail")
async def fail(payload: dict[str, Any]) -> dict[str, Any]:
    raise ValueError(f"no data for {payload['symbol']}")


@job_handler("test.slow")
async def slow(payload: dict[str, Any]) -> dict[str, Any]:
    """Marks that it started (a file), then works for `seconds`."""
    await asyncio.to_thread(Path(payload["marker"]).write_text, str(os.getpid()))
    await asyncio.sleep(payload["seconds"])
    return {"done_by": os.getpid()}


@job_handler("test.log")
async def log_line(payload: dict[str, Any]) -> dict[str, Any]:
    logging.getLogger("tests.workqueue").warning("analysing")
    return {}


async def _mark_cleanup() -> None:
    """A stopping worker runs its cleanups: this one leaves a file where the test asks."""
    marker = os.environ.get("TEST_WORKER_CLEANUP_MARKER")
    if marker:
        await asyncio.to_thread(Path(marker).write_text, "cleaned up")


register_worker_cleanup(_mark_cleanup)
