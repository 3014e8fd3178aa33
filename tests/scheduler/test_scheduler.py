"""The scheduler with injected job callables: guards, overlap, persistence across restarts."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from orchestrator.clock import FixedClock
from orchestrator.config import Settings
from orchestrator.domain import EXCHANGE_TZ
from orchestrator.scheduler import (
    CYCLE_JOB_ID,
    JOB_IDS,
    POST_CLOSE_JOB_ID,
    SUMMARY_JOB_ID,
    WARMUP_JOB_ID,
    CycleJob,
    TradingScheduler,
)
from tests.events.helpers import eventually


def ny(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=EXCHANGE_TZ)


class Calls:
    """Records what each injected job was called with; the cycle can be held open."""

    def __init__(self) -> None:
        self.cycles: list[datetime] = []
        self.daily: list[tuple[str, date]] = []
        self.release = asyncio.Event()
        self.release.set()

    async def cycle(self, slot: datetime) -> None:
        self.cycles.append(slot)
        await self.release.wait()

    def daily_job(self, name: str):  # type: ignore[no-untyped-def]
        async def run(day: date) -> None:
            self.daily.append((name, day))

        return run


def make_scheduler(
    engine: Engine,
    calls: Calls,
    clock: FixedClock,
    cycle: CycleJob | None = None,
    **settings: object,
) -> TradingScheduler:
    return TradingScheduler(
        Settings(**settings),  # type: ignore[arg-type]
        cycle=cycle or calls.cycle,
        warmup=calls.daily_job("warmup"),
        post_close=calls.daily_job("post_close"),
        summary=calls.daily_job("summary"),
        engine=engine,
        clock=clock,
    )


async def test_a_holiday_runs_no_cycle_and_no_daily_job(sqlite_engine: Engine) -> None:
    calls = Calls()
    clock = FixedClock(ny(2015, 12, 25, 10, 0))  # Christmas, a Friday
    scheduler = make_scheduler(sqlite_engine, calls, clock)
    for job_id in JOB_IDS:
        assert await scheduler.run_job(job_id) is False
    assert calls.cycles == [] and calls.daily == []

    # The next trading day the same jobs run, each with its session and the cycle's slot.
    clock.advance_to(ny(2015, 12, 28, 10, 2))
    for job_id in JOB_IDS:
        assert await scheduler.run_job(job_id) is True
    assert calls.cycles == [ny(2015, 12, 28, 10, 0)]
    assert sorted(calls.daily) == [
        ("post_close", date(2015, 12, 28)),
        ("summary", date(2015, 12, 28)),
        ("warmup", date(2015, 12, 28)),
    ]


async def test_an_early_close_afternoon_runs_no_cycle(sqlite_engine: Engine) -> None:
    calls = Calls()
    clock = FixedClock(ny(2015, 11, 27, 14, 0))  # day after Thanksgiving closes at 13:00
    scheduler = make_scheduler(sqlite_engine, calls, clock)
    assert await scheduler.run_job(CYCLE_JOB_ID) is False
    # ...but it is a session, so the post-close evaluation still runs.
    assert await scheduler.run_job(POST_CLOSE_JOB_ID) is True
    assert calls.cycles == [] and calls.daily == [("post_close", date(2015, 11, 27))]


async def test_cycles_never_overlap(sqlite_engine: Engine) -> None:
    calls = Calls()
    calls.release.clear()
    scheduler = make_scheduler(sqlite_engine, calls, FixedClock(ny(2015, 11, 30, 10, 0)))
    first = asyncio.create_task(scheduler.run_job(CYCLE_JOB_ID))
    await eventually(lambda: scheduler.cycle_running)
    # A second fire while the first runs (the next slot, or "run now" by hand) is refused.
    assert await scheduler.run_job(CYCLE_JOB_ID) is False
    assert await scheduler.run_now(CYCLE_JOB_ID) is False
    calls.release.set()
    assert await first is True
    assert len(calls.cycles) == 1
    # Once the first finished, the next one may run.
    assert await scheduler.run_now(CYCLE_JOB_ID) is True
    assert len(calls.cycles) == 2


async def test_a_failing_job_is_logged_and_the_scheduler_goes_on(
    sqlite_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(slot: datetime) -> None:
        raise RuntimeError("data provider down")

    scheduler = make_scheduler(
        sqlite_engine, Calls(), FixedClock(ny(2015, 11, 30, 10, 0)), cycle=broken
    )
    assert await scheduler.run_job(CYCLE_JOB_ID) is True
    assert "scheduled cycle for slot 2015-11-30T10:00:00-05:00 failed" in caplog.text
    assert not scheduler.cycle_running
    assert await scheduler.run_job(WARMUP_JOB_ID) is True


async def test_jobs_keep_their_ids_and_pause_across_a_restart(engine: Engine) -> None:
    clock = FixedClock(ny(2015, 11, 30, 10, 0))
    first = make_scheduler(engine, Calls(), clock)
    first.start()
    try:
        assert first.job_ids() == sorted(JOB_IDS)
        stored = first.scheduler.get_job(CYCLE_JOB_ID)
        assert stored.max_instances == 1 and stored.coalesce is True
        first.pause_cycles()
        assert first.cycles_paused()
    finally:
        await first.shutdown(grace_seconds=1)

    # A new process with the same database: the same jobs, and the pause is remembered.
    second = make_scheduler(engine, Calls(), clock)
    second.start()
    try:
        assert second.job_ids() == sorted(JOB_IDS)
        assert second.cycles_paused() and second.next_cycle_time() is None
        assert second.scheduler.get_job(WARMUP_JOB_ID).next_run_time is not None
        second.resume_cycles()
    finally:
        await second.shutdown(grace_seconds=1)

    # A changed CYCLE_CRON replaces the stored trigger instead of keeping the old one.
    third = make_scheduler(engine, Calls(), clock, cycle_cron="15 10 * * mon-fri")
    third.start()
    try:
        assert third.job_ids() == sorted(JOB_IDS)
        assert "minute='15'" in str(third.scheduler.get_job(CYCLE_JOB_ID).trigger)
        assert third.next_cycle_time(ny(2015, 12, 24, 11, 0)) == ny(2015, 12, 28, 10, 15)
    finally:
        await third.shutdown(grace_seconds=1)


async def test_a_stored_job_fires_the_callable_handed_over_at_start(sqlite_engine: Engine) -> None:
    calls = Calls()
    scheduler = make_scheduler(sqlite_engine, calls, FixedClock(ny(2015, 11, 30, 10, 0)))
    scheduler.start()
    try:
        # Make APScheduler fire the stored jobs now, through their textual job-store reference.
        soon = datetime.now(UTC) + timedelta(milliseconds=50)
        for job_id in (CYCLE_JOB_ID, SUMMARY_JOB_ID):
            scheduler.scheduler.modify_job(job_id, next_run_time=soon)
        await eventually(lambda: len(calls.cycles) == 1 and len(calls.daily) == 1)
    finally:
        await scheduler.shutdown(grace_seconds=5)
    assert calls.cycles == [ny(2015, 11, 30, 10, 0)]
    assert calls.daily == [("summary", date(2015, 11, 30))]


async def test_shutdown_waits_for_the_running_cycle(sqlite_engine: Engine) -> None:
    calls = Calls()
    calls.release.clear()
    scheduler = make_scheduler(sqlite_engine, calls, FixedClock(ny(2015, 11, 30, 10, 0)))
    scheduler.start()
    running = asyncio.create_task(scheduler.run_now(CYCLE_JOB_ID))
    await eventually(lambda: scheduler.cycle_running)
    stopping = asyncio.create_task(scheduler.shutdown(grace_seconds=10))
    await asyncio.sleep(0.1)
    assert not stopping.done()  # still waiting for the cycle
    calls.release.set()
    await stopping
    assert await running is True
    assert not scheduler.scheduler.running
