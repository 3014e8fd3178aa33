"""The Redis work queue with real workers: two in-process workers, and `fingpt worker` processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from orchestrator.redis_workqueue import RedisWorkQueue, Worker
from tests.events.helpers import eventually
from tests.workqueue import handlers  # noqa: F401  (registers the test job handlers)

REPO_ROOT = Path(__file__).resolve().parents[2]
IDLE_MS = 300


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(redis: Redis) -> AsyncIterator[str]:
    value = f"test:{uuid.uuid4().hex[:10]}:"
    yield value
    keys = [key async for key in redis.scan_iter(match=f"{value}*")]
    if keys:
        await redis.delete(*keys)


def start_worker(
    redis: Redis, prefix: str, name: str, concurrency: int = 2
) -> tuple[Worker, asyncio.Task[None]]:
    worker = Worker(
        redis,
        prefix=prefix,
        concurrency=concurrency,
        claim_min_idle_ms=IDLE_MS,
        block_ms=100,
        name=name,
    )
    return worker, asyncio.create_task(worker.run(stop_grace_seconds=5))


async def test_two_workers_share_a_batch_and_every_job_gets_a_result(
    redis: Redis, prefix: str
) -> None:
    first, first_task = start_worker(redis, prefix, "w1")
    second, second_task = start_worker(redis, prefix, "w2")
    queue = RedisWorkQueue(redis, prefix=prefix)
    await eventually(lambda: _count(queue.live_workers(), 2))
    try:
        squares = await queue.run_batch(
            "test.square", [{"n": n, "sleep": 0.05} for n in range(12)], timeout_seconds=10
        )
        failed = await queue.run_batch("test.fail", [{"symbol": "ZZZZ"}], timeout_seconds=10)
    finally:
        first.stop()
        second.stop()
        await asyncio.gather(first_task, second_task)

    assert [r.result["square"] for r in squares if r.result] == [n * n for n in range(12)]
    assert {r.worker for r in squares} == {"w1", "w2"}
    assert first.jobs_done + second.jobs_done == 13
    assert failed[0].ok is False and failed[0].error == "ValueError: no data for ZZZZ"
    # Every job was acknowledged and the batch's result stream was removed.
    assert (await redis.xpending(f"{prefix}jobs", "workers"))["pending"] == 0
    assert not [key async for key in redis.scan_iter(match=f"{prefix}results:*")]


async def test_without_a_live_worker_the_batch_runs_in_this_process(
    redis: Redis, prefix: str
) -> None:
    queue = RedisWorkQueue(redis, prefix=prefix, local_concurrency=2)
    results = await queue.run_batch("test.square", [{"n": 4}], timeout_seconds=5)
    assert results[0].ok and results[0].worker == "local"
    assert results[0].result == {"square": 16, "pid": os.getpid()}


async def test_a_job_nobody_answers_in_time_comes_back_as_an_error(
    redis: Redis, prefix: str
) -> None:
    # A heartbeat with no worker behind it: the job is queued but never run.
    await redis.set(f"{prefix}workers:ghost", "x", ex=30)
    queue = RedisWorkQueue(redis, prefix=prefix)
    results = await queue.run_batch("test.square", [{"n": 1}], timeout_seconds=0.5)
    assert not results[0].ok and results[0].error == "no result within 0.5 s"


def spawn_cli_worker(redis_url: str, prefix: str, **extra_env: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **extra_env,
        "REDIS_URL": redis_url,
        "METRICS_PORT": "0",
        "PYTHONPATH": str(REPO_ROOT),
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from orchestrator.cli import main; main()",
            "worker",
            "--concurrency",
            "1",
            "--handlers",
            "tests.workqueue.handlers",
            "--queue-prefix",
            prefix,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


async def test_a_job_of_a_killed_worker_process_is_finished_by_another_worker(
    redis_url: str, redis: Redis, prefix: str, tmp_path: Path
) -> None:
    cleaned = tmp_path / "cleaned"
    process = spawn_cli_worker(redis_url, prefix, TEST_WORKER_CLEANUP_MARKER=str(cleaned))
    queue = RedisWorkQueue(redis, prefix=prefix)
    try:
        await eventually(lambda: _count(queue.live_workers(), 1), within_seconds=60)
        marker = tmp_path / "started"
        batch = asyncio.create_task(
            queue.run_batch(
                "test.slow", [{"marker": str(marker), "seconds": 0.2}], timeout_seconds=30
            )
        )
        await eventually(marker.exists, within_seconds=10)
        assert marker.read_text() == str(process.pid)
        process.send_signal(signal.SIGKILL)  # dies mid-job: no result, no ack
        process.wait(timeout=10)
        survivor, task = start_worker(redis, prefix, "survivor")
        results = await batch
        survivor.stop()
        await task
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert results[0].ok and results[0].worker == "survivor"
    assert results[0].result == {"done_by": os.getpid()}


async def test_fingpt_worker_finishes_its_job_before_stopping_on_sigterm(
    redis_url: str, redis: Redis, prefix: str, tmp_path: Path
) -> None:
    cleaned = tmp_path / "cleaned"
    process = spawn_cli_worker(redis_url, prefix, TEST_WORKER_CLEANUP_MARKER=str(cleaned))
    queue = RedisWorkQueue(redis, prefix=prefix)
    try:
        await eventually(lambda: _count(queue.live_workers(), 1), within_seconds=60)
        marker = tmp_path / "started"
        batch = asyncio.create_task(
            queue.run_batch(
                "test.slow", [{"marker": str(marker), "seconds": 0.7}], timeout_seconds=30
            )
        )
        await eventually(marker.exists, within_seconds=10)
        process.send_signal(signal.SIGTERM)
        results = await batch
        output, _ = await asyncio.to_thread(process.communicate, timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert results[0].ok and results[0].result == {"done_by": process.pid}
    assert process.returncode == 0
    assert b"stopped after 1 job(s)" in output
    # What its handlers keep between jobs (the analysis runtime) is released on the way out.
    assert cleaned.read_text() == "cleaned up"
    assert (await redis.xpending(f"{prefix}jobs", "workers"))["pending"] == 0


async def _count(names: object, expected: int) -> bool:
    return len(await names) >= expected  # type: ignore[misc]
