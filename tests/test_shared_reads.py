"""A burst of identical view requests shares one database read, but no request is answered
with data read before it asked (`orchestrator.shared_reads`)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from orchestrator.shared_reads import SharedReads


@pytest.fixture
def one_thread() -> Iterator[ThreadPoolExecutor]:
    """A pool of one thread, so a test can hold reads back by keeping that thread busy."""
    pool = ThreadPoolExecutor(1)
    yield pool
    pool.shutdown(wait=True)


async def _hold(pool: ThreadPoolExecutor) -> threading.Event:
    asyncio.get_running_loop().set_default_executor(pool)
    release = threading.Event()
    asyncio.get_running_loop().run_in_executor(pool, release.wait)
    return release


async def test_requests_waiting_for_a_thread_share_one_read(one_thread: ThreadPoolExecutor) -> None:
    reads, calls = SharedReads(), []
    release = await _hold(one_thread)

    def read() -> tuple[str, ...]:
        calls.append(1)
        return ("AAPL", "MSFT")

    asked = [asyncio.ensure_future(reads.run("positions", read)) for _ in range(20)]
    await asyncio.sleep(0.01)
    assert reads.waiting == 1 and not calls  # queued behind the busy thread, not read yet
    release.set()
    answers = await asyncio.gather(*asked)
    assert len(calls) == 1
    assert answers == [("AAPL", "MSFT")] * 20
    assert reads.waiting == 0


async def test_a_request_after_the_read_started_reads_again_and_sees_the_write() -> None:
    reads, book = SharedReads(), {"AAPL": 0}
    started, release = threading.Event(), threading.Event()

    def read() -> int:
        seen = book["AAPL"]
        started.set()
        release.wait(5)
        return seen

    before = asyncio.ensure_future(reads.run("positions", read))
    assert await asyncio.to_thread(started.wait, 5)
    book["AAPL"] = 10  # a fill lands while that read is running
    after = asyncio.ensure_future(reads.run("positions", lambda: book["AAPL"]))
    release.set()
    assert await before == 0
    assert await after == 10  # asked after the fill: never the older read's answer


async def test_different_keys_are_read_separately(one_thread: ThreadPoolExecutor) -> None:
    reads = SharedReads()
    release = await _hold(one_thread)
    week = asyncio.ensure_future(reads.run(("pnl", 7), lambda: "7 days"))
    month = asyncio.ensure_future(reads.run(("pnl", 30), lambda: "30 days"))
    release.set()
    assert await asyncio.gather(week, month) == ["7 days", "30 days"]


async def test_a_failed_read_fails_its_sharers_and_the_next_request_reads_again(
    one_thread: ThreadPoolExecutor,
) -> None:
    reads, calls = SharedReads(), []
    release = await _hold(one_thread)

    def broken() -> None:
        calls.append(1)
        raise OSError("database is locked")

    asked = [asyncio.ensure_future(reads.run("status", broken)) for _ in range(3)]
    release.set()
    outcomes = await asyncio.gather(*asked, return_exceptions=True)
    assert [type(o) for o in outcomes] == [OSError] * 3 and len(calls) == 1
    assert await reads.run("status", lambda: "ok") == "ok"  # not stuck on the failure


async def test_one_chat_giving_up_does_not_cancel_the_others(
    one_thread: ThreadPoolExecutor,
) -> None:
    reads = SharedReads()
    release = await _hold(one_thread)
    impatient = asyncio.ensure_future(reads.run("status", lambda: "fine"))
    patient = asyncio.ensure_future(reads.run("status", lambda: "fine"))
    await asyncio.sleep(0)
    impatient.cancel()
    release.set()
    assert await patient == "fine"
    with pytest.raises(asyncio.CancelledError):
        await impatient


def test_a_read_left_waiting_by_an_ended_loop_does_not_block_the_next_loop() -> None:
    reads = SharedReads()
    pool = ThreadPoolExecutor(1)
    release = threading.Event()

    async def ask_and_leave() -> None:
        asyncio.get_running_loop().set_default_executor(pool)
        asyncio.get_running_loop().run_in_executor(pool, release.wait)
        asyncio.ensure_future(reads.run("status", lambda: "old"))
        await asyncio.sleep(0.01)

    loop = asyncio.new_event_loop()
    loop.run_until_complete(ask_and_leave())  # ends with the read still queued
    assert reads.waiting == 1

    async def ask_again() -> str:
        return await asyncio.wait_for(reads.run("status", lambda: "new"), timeout=5)

    try:
        assert asyncio.run(ask_again()) == "new"  # its own read, on its own loop
    finally:
        release.set()  # let the first loop's read finish, then close that loop cleanly
        loop.run_until_complete(asyncio.gather(*asyncio.all_tasks(loop)))
        pool.shutdown(wait=True)
        loop.close()
