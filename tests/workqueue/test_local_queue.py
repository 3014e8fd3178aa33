from __future__ import annotations

import io
import json
import logging

from orchestrator.config import load_settings
from orchestrator.monitoring import configure_logging
from orchestrator.redis_workqueue import RedisWorkQueue
from orchestrator.workqueue import LocalWorkQueue, build_work_queue
from tests.workqueue import handlers


async def test_results_come_back_in_order_within_the_concurrency_bound() -> None:
    handlers.most_running = 0
    queue = LocalWorkQueue(max_concurrency=3)
    results = await queue.run_batch(
        "test.square", [{"n": n, "sleep": 0.02} for n in range(10)], timeout_seconds=5
    )
    assert [r.result["square"] for r in results if r.result] == [n * n for n in range(10)]
    assert all(r.ok for r in results)
    assert handlers.most_running == 3


async def test_failures_and_timeouts_are_results_not_exceptions() -> None:
    queue = LocalWorkQueue(max_concurrency=4)
    failed = await queue.run_batch("test.fail", [{"symbol": "ZZZZ"}], timeout_seconds=5)
    assert not failed[0].ok and failed[0].error == "ValueError: no data for ZZZZ"

    unknown = await queue.run_batch("no.such.job", [{}], timeout_seconds=5)
    assert "no handler registered" in unknown[0].error

    mixed = await queue.run_batch(
        "test.square", [{"n": 2}, {"n": 3, "sleep": 5}], timeout_seconds=0.3
    )
    assert mixed[0].ok and mixed[0].result == {"square": 4, "pid": mixed[0].result["pid"]}
    assert not mixed[1].ok and mixed[1].error == "timed out after 0.3 s"


def test_build_work_queue_follows_redis_url() -> None:
    assert isinstance(build_work_queue(load_settings(max_concurrency=5)), LocalWorkQueue)
    queue = build_work_queue(load_settings(redis_url="redis://127.0.0.1:1/0"))
    assert isinstance(queue, RedisWorkQueue)


async def test_a_jobs_log_lines_name_its_cycle_and_ticker() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    configure_logging("INFO", json=True, stream=stream)
    try:
        queue = LocalWorkQueue(max_concurrency=2)
        await queue.run_batch(
            "test.log",
            [{"symbol": "AAPL", "cycle_id": 7}, {"symbol": "MSFT", "cycle_id": 7}],
            timeout_seconds=5,
        )
    finally:
        for handler in list(root.handlers):
            if handler.get_name() == "fingpt":
                root.removeHandler(handler)
        root.setLevel(level)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    tagged = sorted((line["ticker"], line["cycle_id"]) for line in lines if "ticker" in line)
    assert tagged == [("AAPL", 7), ("MSFT", 7)]
