"""The work queue on Redis Streams: `RedisWorkQueue` submits, `Worker` (`fingpt worker`) runs.

Keys (prefix `fingpt:` by default):
- `<prefix>jobs`: the job stream, read by the consumer group `workers`; bounded by MAXLEN ~;
- `<prefix>results:<batch id>`: one result stream per batch, read by the submitter only; it
  expires an hour after its last write, so results of an abandoned batch do not accumulate;
- `<prefix>workers:<consumer>`: a heartbeat key per live worker (expires after a few seconds).

A job is acknowledged after its result is written; a worker that dies mid-job leaves it pending
and another worker re-claims it after `claim_min_idle_ms`. A job is therefore run at least once;
the submitter keeps the first result per job id. A job whose deadline passed before a worker got
to it is answered with an error instead of being run late.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from redis.asyncio import Redis

from orchestrator.store.base import utcnow
from orchestrator.streams import (
    DEFAULT_BLOCK_MS,
    DEFAULT_CLAIM_MIN_IDLE_MS,
    DEFAULT_MAX_DELIVERIES,
    Fields,
    StreamConsumer,
    consumer_name,
)
from orchestrator.workqueue import (
    Job,
    JobResult,
    LocalWorkQueue,
    execute_job,
    make_jobs,
    new_batch_id,
)

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "fingpt:"
WORKER_GROUP = "workers"
# Jobs are small (a ticker and options); 10k is far more than any backlog a cycle creates.
JOBS_MAXLEN = 10_000
# Results of a batch whose submitter went away stay this long, then Redis drops them.
RESULTS_TTL_SECONDS = 3600
# A worker refreshes its heartbeat this often; the key lives three times as long.
HEARTBEAT_SECONDS = 2.0


class RedisWorkQueue:
    """Submits jobs to the Redis job stream and collects their results."""

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        local_concurrency: int = 8,
        owns_client: bool = False,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self._local = LocalWorkQueue(local_concurrency)
        self._owns_client = owns_client

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisWorkQueue:
        return cls(Redis.from_url(url, decode_responses=True), owns_client=True, **options)

    async def live_workers(self) -> list[str]:
        """Consumer names of workers whose heartbeat is current."""
        names: list[str] = []
        async for key in self.redis.scan_iter(match=f"{self.prefix}workers:*", count=100):
            names.append(key.removeprefix(f"{self.prefix}workers:"))
        return sorted(names)

    async def run_batch(
        self,
        job_type: str,
        payloads: Sequence[dict[str, Any]],
        *,
        batch_id: str | None = None,
        timeout_seconds: float,
    ) -> list[JobResult]:
        """See `orchestrator.workqueue`. Runs locally while no worker heartbeat is present."""
        batch_id = batch_id or new_batch_id()
        jobs = make_jobs(job_type, payloads, batch_id, timeout_seconds)
        if not jobs:
            return []
        if not await self.live_workers():
            log.warning("no live worker on Redis; running %d %s job(s) here", len(jobs), job_type)
            return await self._local.run_jobs(jobs, timeout_seconds=timeout_seconds)
        reply_to = f"{self.prefix}results:{batch_id}"
        async with self.redis.pipeline(transaction=False) as pipe:
            for job in jobs:
                routed = job.model_copy(update={"reply_to": reply_to})
                pipe.xadd(
                    f"{self.prefix}jobs",
                    {"job": routed.model_dump_json()},
                    maxlen=JOBS_MAXLEN,
                    approximate=True,
                )
            await pipe.execute()
        try:
            results = await self._collect(reply_to, {job.job_id for job in jobs}, timeout_seconds)
        finally:
            await self.redis.delete(reply_to)
        return [
            results.get(job.job_id)
            or JobResult.failure(job, f"no result within {timeout_seconds:g} s")
            for job in jobs
        ]

    async def _collect(
        self, reply_to: str, wanted: set[str], timeout_seconds: float
    ) -> dict[str, JobResult]:
        results: dict[str, JobResult] = {}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_seconds
        last_id = "0-0"
        while wanted - results.keys():
            remaining_ms = int((deadline - loop.time()) * 1000)
            if remaining_ms <= 0:
                break
            response: Any = await self.redis.xread(
                {reply_to: last_id}, count=100, block=min(remaining_ms, 1000)
            )
            for _stream, messages in response or []:
                for message_id, fields in messages:
                    last_id = message_id
                    try:
                        result = JobResult.model_validate_json(fields["result"])
                    except (KeyError, ValidationError):
                        log.error("malformed job result %r on %s", fields, reply_to)
                        continue
                    # A re-claimed job may answer twice; the first answer stands.
                    if result.job_id in wanted:
                        results.setdefault(result.job_id, result)
        return results

    async def close(self) -> None:
        if self._owns_client:
            await self.redis.aclose()


class Worker:
    """Consumes the job stream, runs registered handlers, writes results. One per process."""

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        concurrency: int = 4,
        claim_min_idle_ms: int = DEFAULT_CLAIM_MIN_IDLE_MS,
        max_deliveries: int = DEFAULT_MAX_DELIVERIES,
        block_ms: int = DEFAULT_BLOCK_MS,
        name: str | None = None,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.name = name or consumer_name("worker-")
        self.jobs_done = 0
        self._consumer = StreamConsumer(
            redis,
            stream=f"{prefix}jobs",
            group=WORKER_GROUP,
            consumer=self.name,
            handler=self._on_job,
            concurrency=concurrency,
            block_ms=block_ms,
            claim_min_idle_ms=claim_min_idle_ms,
            max_deliveries=max_deliveries,
            on_dead_letter=self._on_poison,
            # Jobs submitted before the first worker ever started are still served.
            group_start_id="0",
        )

    def stop(self) -> None:
        """Stop taking jobs; `run()` returns after the running ones finish."""
        self._consumer.stop()

    async def run(self, *, stop_grace_seconds: float = 60.0) -> None:
        """Work until `stop()`; Redis connection errors are retried, not raised."""
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            await self._consumer.run(stop_grace_seconds=stop_grace_seconds)
        finally:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self.redis.delete(f"{self.prefix}workers:{self.name}")

    async def _heartbeat(self) -> None:
        key = f"{self.prefix}workers:{self.name}"
        while True:
            try:
                await self.redis.set(key, utcnow().isoformat(), ex=int(HEARTBEAT_SECONDS * 3))
            except Exception as exc:  # a lost heartbeat only means submitters run jobs locally
                log.warning("worker heartbeat failed: %s", exc)
            await asyncio.sleep(HEARTBEAT_SECONDS)

    async def _on_job(self, _message_id: str, fields: Fields) -> None:
        try:
            job = Job.model_validate_json(fields["job"])
        except (KeyError, ValidationError):
            log.error("dropping a malformed job %r", fields)
            return
        if job.deadline is not None and utcnow() > job.deadline:
            result = JobResult.failure(job, "expired before a worker could start it")
        else:
            result = await execute_job(job, worker=self.name)
        await self._reply(job, result)
        self.jobs_done += 1

    async def _on_poison(self, _message_id: str, fields: Fields, failures: int) -> None:
        job = Job.model_validate_json(fields["job"])
        await self._reply(
            job, JobResult.failure(job, f"gave up after {failures} workers died running it")
        )

    async def _reply(self, job: Job, result: JobResult) -> None:
        if not job.reply_to:
            return
        try:
            encoded = result.model_dump_json()
        except ValueError as exc:  # pydantic's serialization error: the handler broke its contract
            encoded = JobResult.failure(
                job, f"result is not JSON-ready: {exc}", worker=self.name
            ).model_dump_json()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(job.reply_to, {"result": encoded})
            pipe.expire(job.reply_to, RESULTS_TTL_SECONDS)
            await pipe.execute()
