"""The work queue: the cycle fans per-ticker jobs out and collects every result.

    queue = build_work_queue(settings)
    results = await queue.run_batch("analyze_ticker", [{"symbol": "AAPL"}], timeout_seconds=120)

Handlers are async functions `payload dict -> result dict` (both JSON-ready), registered by job
type with `register_job_handler` in a module that both the cycle's process and `fingpt worker`
import (the worker imports the modules named by `--handlers` / `WORKER_HANDLERS`).

Contract of `run_batch`: returns exactly one `JobResult` per payload, in the payloads' order,
within about `timeout_seconds`. Nothing is lost: a handler that raises, an unknown job type, a
job that timed out or a job that kept killing workers each come back as a result with
`ok=False` and an `error` saying what happened. Only infrastructure errors (Redis unreachable)
raise.

Two implementations: `LocalWorkQueue` runs the handlers in this process under a
`MAX_CONCURRENCY` bound; `RedisWorkQueue` (`orchestrator.redis_workqueue`) puts jobs on a Redis
stream that `fingpt worker` processes consume, and falls back to running locally while no worker
is alive. `build_work_queue(settings)` picks one from `REDIS_URL`.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, Field

from orchestrator import monitoring
from orchestrator.errors import ConfigError
from orchestrator.store.base import utcnow

if TYPE_CHECKING:
    from orchestrator.config import Settings

log = logging.getLogger(__name__)

JobHandler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]

_HANDLERS: dict[str, JobHandler] = {}
# Run once when a worker stops: handlers that keep state between jobs (a runtime with open HTTP
# clients and database connections) release it there.
_CLEANUPS: list[Callable[[], Awaitable[None]]] = []


def register_job_handler(job_type: str, handler: JobHandler) -> None:
    """Run `handler` for jobs of `job_type` (replacing an earlier registration)."""
    _HANDLERS[job_type] = handler


def job_handler(job_type: str) -> Callable[[JobHandler], JobHandler]:
    """Decorator form of `register_job_handler`."""

    def decorate(handler: JobHandler) -> JobHandler:
        register_job_handler(job_type, handler)
        return handler

    return decorate


def unregister_job_handler(job_type: str) -> None:
    _HANDLERS.pop(job_type, None)


def register_worker_cleanup(cleanup: Callable[[], Awaitable[None]]) -> None:
    """Await `cleanup` when the worker stops (`run_worker_cleanups`)."""
    if cleanup not in _CLEANUPS:
        _CLEANUPS.append(cleanup)


async def run_worker_cleanups() -> None:
    """Run every registered cleanup; one that fails is logged and the rest still run."""
    for cleanup in list(_CLEANUPS):
        try:
            await cleanup()
        except Exception:
            log.warning("worker cleanup %r failed", cleanup, exc_info=True)


def registered_job_types() -> list[str]:
    return sorted(_HANDLERS)


def import_handler_modules(modules: Iterable[str]) -> None:
    """Import modules that register job handlers; `ConfigError` names one that cannot load."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise ConfigError(
                f"Cannot import job handler module {name!r} ({exc}); check WORKER_HANDLERS "
                "or --handlers."
            ) from exc


class Job(BaseModel):
    """One unit of work as it travels to a worker."""

    job_id: str
    job_type: str
    batch_id: str
    payload: dict[str, Any] = Field(default_factory=dict)
    deadline: datetime | None = Field(None, description="After this no one should start it")
    reply_to: str = ""  # where the result goes (a Redis stream key); set by the Redis queue


class JobResult(BaseModel):
    """What came of one job. `ok=False` always carries an `error`."""

    job_id: str
    job_type: str
    batch_id: str
    ok: bool
    result: dict[str, Any] | None = None
    error: str = ""
    worker: str = ""
    duration_seconds: float = 0.0

    @classmethod
    def failure(cls, job: Job, error: str, *, worker: str = "") -> JobResult:
        return cls(
            job_id=job.job_id,
            job_type=job.job_type,
            batch_id=job.batch_id,
            ok=False,
            error=error,
            worker=worker,
        )


class WorkQueue(Protocol):
    """Runs a batch of jobs and returns one result per job (see the module's contract)."""

    async def run_batch(
        self,
        job_type: str,
        payloads: Sequence[dict[str, Any]],
        *,
        batch_id: str | None = None,
        timeout_seconds: float,
    ) -> list[JobResult]: ...

    async def close(self) -> None: ...


def make_jobs(
    job_type: str, payloads: Sequence[dict[str, Any]], batch_id: str, timeout_seconds: float
) -> list[Job]:
    deadline = utcnow() + timedelta(seconds=timeout_seconds)
    return [
        Job(
            job_id=f"{batch_id}:{index}",
            job_type=job_type,
            batch_id=batch_id,
            payload=dict(payload),
            deadline=deadline,
        )
        for index, payload in enumerate(payloads)
    ]


def _log_context(job: Job) -> dict[str, Any]:
    context: dict[str, Any] = {"job_id": job.job_id}
    if job.payload.get("cycle_id") is not None:
        context["cycle_id"] = job.payload["cycle_id"]
    if job.payload.get("symbol"):
        context["ticker"] = job.payload["symbol"]
    return context


def new_batch_id() -> str:
    return uuid.uuid4().hex[:16]


async def execute_job(job: Job, *, worker: str = "local") -> JobResult:
    """Run the registered handler; any exception becomes an error result (never raises)."""
    handler = _HANDLERS.get(job.job_type)
    if handler is None:
        return JobResult.failure(job, f"no handler registered for job type {job.job_type!r}")
    started = time.perf_counter()
    try:
        # Per-ticker jobs carry the cycle and the symbol: every log line of the job names them.
        with monitoring.bind_log_context(**_log_context(job)):
            result = await handler(job.payload)
        if not isinstance(result, dict):
            raise TypeError(f"handler returned {type(result).__name__}, expected a dict")
    except Exception as exc:
        elapsed = time.perf_counter() - started
        monitoring.observe_job(job.job_type, ok=False, seconds=elapsed)
        log.warning("job %s (%s) failed: %s", job.job_id, job.job_type, exc, exc_info=True)
        failed = JobResult.failure(job, f"{type(exc).__name__}: {exc}", worker=worker)
        return failed.model_copy(update={"duration_seconds": elapsed})
    elapsed = time.perf_counter() - started
    monitoring.observe_job(job.job_type, ok=True, seconds=elapsed)
    return JobResult(
        job_id=job.job_id,
        job_type=job.job_type,
        batch_id=job.batch_id,
        ok=True,
        result=result,
        worker=worker,
        duration_seconds=elapsed,
    )


class LocalWorkQueue:
    """Runs jobs in this process, at most `max_concurrency` at once."""

    def __init__(self, max_concurrency: int) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.max_concurrency = max_concurrency

    async def run_batch(
        self,
        job_type: str,
        payloads: Sequence[dict[str, Any]],
        *,
        batch_id: str | None = None,
        timeout_seconds: float,
    ) -> list[JobResult]:
        jobs = make_jobs(job_type, payloads, batch_id or new_batch_id(), timeout_seconds)
        return await self.run_jobs(jobs, timeout_seconds=timeout_seconds)

    async def run_jobs(self, jobs: Sequence[Job], *, timeout_seconds: float) -> list[JobResult]:
        """Run prepared jobs; ones unfinished at the timeout are cancelled and reported."""
        slots = asyncio.Semaphore(self.max_concurrency)

        async def bounded(job: Job) -> JobResult:
            async with slots:
                return await execute_job(job)

        tasks = [asyncio.create_task(bounded(job)) for job in jobs]
        if not tasks:
            return []
        _, unfinished = await asyncio.wait(tasks, timeout=timeout_seconds)
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)
        return [
            task.result()
            if task not in unfinished
            else JobResult.failure(job, f"timed out after {timeout_seconds:g} s")
            for job, task in zip(jobs, tasks, strict=True)
        ]

    async def close(self) -> None:
        """Nothing to release."""


def build_work_queue(settings: Settings) -> WorkQueue:
    """`RedisWorkQueue` when REDIS_URL is set (local fallback while no worker is alive)."""
    if settings.redis_url:
        from orchestrator.redis_workqueue import RedisWorkQueue

        return RedisWorkQueue.from_url(
            settings.redis_url, local_concurrency=settings.max_concurrency
        )
    return LocalWorkQueue(settings.max_concurrency)
