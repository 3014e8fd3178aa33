"""The autonomous schedule: APScheduler 3 (`AsyncIOScheduler`) on the exchange calendar.

Jobs (fixed ids, so they are found again after a restart):

    fingpt.cycle          CYCLE_CRON in the exchange's time zone; runs only inside a session
                          (holidays skipped, early closes respected: MARKET_CALENDAR)
    fingpt.warmup         09:00 exchange time on sessions: pre-open data warm-up
    fingpt.post_close     16:30 exchange time on sessions: outcome evaluation and reflection
    fingpt.daily_summary  17:00 exchange time on sessions: the daily summary

Jobs live in a SQLAlchemyJobStore (table `apscheduler_jobs`) on DATABASE_URL. What is stored is a
textual reference to `run_registered_job` and the job's name; the callables themselves are
handed to `TradingScheduler` by the service at start and looked up at run time, so nothing
unpicklable reaches the job store and a code change needs no store migration.

Cycles never overlap: the job has max_instances=1 and coalesce=True (missed runs collapse into
one), a run more than `misfire_grace_seconds` late is dropped, and an asyncio lock also guards a
cycle started by hand (`run_now`). Failure contract: a job callable that raises is logged with
its job name and does not stop the scheduler; an invalid CYCLE_CRON or MARKET_CALENDAR raises
`ConfigError` at construction.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import exchange_calendars
import pandas as pd
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.engine import Engine

from orchestrator.clock import Clock, SystemClock
from orchestrator.config import Settings
from orchestrator.errors import ConfigError
from orchestrator.store.db import get_engine

log = logging.getLogger(__name__)

CYCLE_JOB_ID = "fingpt.cycle"
WARMUP_JOB_ID = "fingpt.warmup"
POST_CLOSE_JOB_ID = "fingpt.post_close"
SUMMARY_JOB_ID = "fingpt.daily_summary"
JOB_IDS = (CYCLE_JOB_ID, WARMUP_JOB_ID, POST_CLOSE_JOB_ID, SUMMARY_JOB_ID)
JOB_FUNCTION = "orchestrator.scheduler:run_registered_job"
JOBS_TABLE = "apscheduler_jobs"

# Backtests replay 2014-2015 (the bundled sample); the calendar must cover them.
CALENDAR_START = "2000-01-01"
# A cycle that starts this late is stale (prices moved); the next slot is soon enough.
DEFAULT_MISFIRE_GRACE_SECONDS = 300
# Fire times examined when looking for the next allowed cycle: a year of 5-minute slots.
MAX_FIRE_TIMES_CHECKED = 110_000

CycleJob = Callable[[datetime], Awaitable[Any]]
DailyJob = Callable[[date], Awaitable[Any]]

# The scheduler whose callables `run_registered_job` uses; one per process.
_ACTIVE: TradingScheduler | None = None


# --- the calendar guard (pure functions) -----------------------------------------------------


@functools.lru_cache(maxsize=4)
def market_calendar(code: str) -> exchange_calendars.ExchangeCalendar:
    """The exchange calendar for `code` (e.g. XNYS). `ConfigError` for an unknown code."""
    try:
        return exchange_calendars.get_calendar(code, start=CALENDAR_START)
    except exchange_calendars.errors.InvalidCalendarName:
        raise ConfigError(
            f"Invalid setting MARKET_CALENDAR={code!r}: not an exchange-calendars code "
            "(XNYS for the New York Stock Exchange)."
        ) from None


def calendar_zone(calendar: exchange_calendars.ExchangeCalendar) -> ZoneInfo:
    return ZoneInfo(str(calendar.tz))


def is_session_day(calendar: exchange_calendars.ExchangeCalendar, day: date) -> bool:
    """True when `day` is a trading session (weekends and holidays are not)."""
    try:
        return bool(calendar.is_session(pd.Timestamp(day)))
    except ValueError:  # outside the calendar's range: treat as closed rather than guess
        log.warning("%s is outside the %s calendar", day, calendar.name)
        return False


def market_open_at(calendar: exchange_calendars.ExchangeCalendar, moment: datetime) -> bool:
    """True when the market is in session at `moment` (early closes included).

    The open minute counts as open, the close minute as closed: a 16:00 slot never trades.
    """
    if moment.tzinfo is None:
        raise ValueError("market_open_at needs a timezone-aware datetime")
    minute = pd.Timestamp(moment).tz_convert("UTC").floor("min")
    try:
        return bool(calendar.is_open_on_minute(minute))
    except ValueError:
        log.warning("%s is outside the %s calendar", moment, calendar.name)
        return False


def cycle_trigger(cron: str, zone: ZoneInfo) -> CronTrigger:
    """The CYCLE_CRON trigger in the exchange's time zone. `ConfigError` for a bad crontab."""
    try:
        return CronTrigger.from_crontab(cron, timezone=zone)
    except ValueError as exc:
        raise ConfigError(
            f"Invalid setting CYCLE_CRON={cron!r}: {exc}; expected a 5-field crontab "
            "such as '*/30 9-15 * * mon-fri'."
        ) from None


def next_allowed_fire_time(
    trigger: CronTrigger,
    calendar: exchange_calendars.ExchangeCalendar,
    after: datetime,
    *,
    max_checks: int = MAX_FIRE_TIMES_CHECKED,
) -> datetime | None:
    """The first fire time at or after `after` that falls inside a session; None if none soon."""
    fire = trigger.get_next_fire_time(None, after)
    for _ in range(max_checks):
        if fire is None:
            return None
        if market_open_at(calendar, fire):
            return fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
    return None


def latest_fire_time(trigger: CronTrigger, now: datetime, lookback: timedelta) -> datetime | None:
    """The last fire time in (now - lookback, now]: the slot a late-starting run belongs to."""
    latest = None
    fire = trigger.get_next_fire_time(None, now - lookback)
    while fire is not None and fire <= now:
        latest = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
    return latest


# --- the scheduler -----------------------------------------------------------------------------


async def run_registered_job(name: str) -> None:
    """What the job store references: runs job `name` on the active scheduler."""
    if _ACTIVE is None:
        log.warning("scheduled job %s fired with no active scheduler; skipped", name)
        return
    await _ACTIVE.run_job(name)


class TradingScheduler:
    """Owns the APScheduler instance, the calendar guard and the callables it runs."""

    def __init__(
        self,
        settings: Settings,
        *,
        cycle: CycleJob,
        warmup: DailyJob,
        post_close: DailyJob,
        summary: DailyJob,
        engine: Engine | None = None,
        clock: Clock | None = None,
        misfire_grace_seconds: int = DEFAULT_MISFIRE_GRACE_SECONDS,
        warmup_at: time = time(9, 0),
        post_close_at: time = time(16, 30),
        summary_at: time = time(17, 0),
    ) -> None:
        self.calendar = market_calendar(settings.market_calendar)
        self.zone = calendar_zone(self.calendar)
        self.clock = clock or SystemClock()
        self.misfire_grace_seconds = misfire_grace_seconds
        self._cycle_trigger = cycle_trigger(settings.cycle_cron, self.zone)
        self._cycle = cycle
        self._daily: dict[str, DailyJob] = {
            WARMUP_JOB_ID: warmup,
            POST_CLOSE_JOB_ID: post_close,
            SUMMARY_JOB_ID: summary,
        }
        self._triggers: dict[str, CronTrigger] = {CYCLE_JOB_ID: self._cycle_trigger}
        for job_id, at in (
            (WARMUP_JOB_ID, warmup_at),
            (POST_CLOSE_JOB_ID, post_close_at),
            (SUMMARY_JOB_ID, summary_at),
        ):
            self._triggers[job_id] = CronTrigger(
                day_of_week="mon-fri", hour=at.hour, minute=at.minute, timezone=self.zone
            )
        if engine is None:
            engine = get_engine(settings)
        self.scheduler = AsyncIOScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename=JOBS_TABLE)},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": misfire_grace_seconds,
            },
            timezone=self.zone,
        )
        self._cycle_lock = asyncio.Lock()
        self._active_jobs = 0
        self._idle = asyncio.Event()
        self._idle.set()

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Start (inside the running event loop) and make sure every job exists.

        A stored job whose trigger is unchanged is kept as it is, so a paused cycle stays paused
        across restarts; a changed CYCLE_CRON replaces the stored trigger.
        """
        global _ACTIVE
        _ACTIVE = self
        self.scheduler.start(paused=True)
        for job_id, trigger in self._triggers.items():
            stored = self.scheduler.get_job(job_id)
            if stored is not None and str(stored.trigger) == str(trigger):
                continue
            self.scheduler.add_job(
                JOB_FUNCTION,
                trigger,
                args=[job_id],
                id=job_id,
                name=job_id,
                replace_existing=True,
            )
        self.scheduler.resume()

    async def shutdown(self, *, grace_seconds: float = 600.0) -> None:
        """Start no new job; let running ones finish (up to `grace_seconds`); stop."""
        global _ACTIVE
        if self.scheduler.running:
            self.scheduler.pause()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout=grace_seconds)
        except TimeoutError:
            log.warning("scheduler stopped with a job still running after %.0f s", grace_seconds)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if _ACTIVE is self:
            _ACTIVE = None

    # --- control -----------------------------------------------------------------------------
    def job_ids(self) -> list[str]:
        return sorted(job.id for job in self.scheduler.get_jobs())

    def pause_cycles(self) -> None:
        """Stop autonomous cycles (stored: survives a restart). Daily jobs keep running."""
        self.scheduler.pause_job(CYCLE_JOB_ID)

    def resume_cycles(self) -> None:
        self.scheduler.resume_job(CYCLE_JOB_ID)

    def cycles_paused(self) -> bool:
        job = self.scheduler.get_job(CYCLE_JOB_ID)
        return job is None or job.next_run_time is None

    @property
    def cycle_running(self) -> bool:
        return self._cycle_lock.locked()

    def next_cycle_time(self, after: datetime | None = None) -> datetime | None:
        """When the next autonomous cycle will run (inside a session); None while paused."""
        if self.scheduler.running and self.cycles_paused():
            return None
        return next_allowed_fire_time(self._cycle_trigger, self.calendar, after or self.clock.now())

    async def run_now(self, job_id: str, *, respect_calendar: bool = False) -> bool:
        """Run a job at once through the same guards; False when skipped (closed or busy)."""
        return await self.run_job(job_id, respect_calendar=respect_calendar)

    # --- running -----------------------------------------------------------------------------
    async def run_job(self, job_id: str, *, respect_calendar: bool = True) -> bool:
        """Run job `job_id` under its guard; True if its callable ran (even if it raised)."""
        self._active_jobs += 1
        self._idle.clear()
        try:
            if job_id == CYCLE_JOB_ID:
                return await self._run_cycle(respect_calendar)
            if job_id in self._daily:
                return await self._run_daily(job_id, respect_calendar)
            log.error("unknown scheduled job %s; skipped", job_id)
            return False
        finally:
            self._active_jobs -= 1
            if self._active_jobs == 0:
                self._idle.set()

    async def _run_cycle(self, respect_calendar: bool) -> bool:
        now = self.clock.now().astimezone(self.zone)
        lookback = timedelta(seconds=self.misfire_grace_seconds + 60)
        slot = latest_fire_time(self._cycle_trigger, now, lookback) or now.replace(
            second=0, microsecond=0
        )
        if respect_calendar and not market_open_at(self.calendar, slot):
            log.info("cycle slot %s skipped: %s is closed", slot.isoformat(), self.calendar.name)
            return False
        if self._cycle_lock.locked():
            log.warning("cycle slot %s skipped: the previous cycle is still running", slot)
            return False
        async with self._cycle_lock:
            try:
                await self._cycle(slot)
            except Exception:
                log.exception("scheduled cycle for slot %s failed", slot.isoformat())
        return True

    async def _run_daily(self, job_id: str, respect_calendar: bool) -> bool:
        session = self.clock.now().astimezone(self.zone).date()
        if respect_calendar and not is_session_day(self.calendar, session):
            log.info("%s skipped: %s is not a session", job_id, session)
            return False
        try:
            await self._daily[job_id](session)
        except Exception:
            log.exception("%s for %s failed", job_id, session)
        return True
