"""The service process behind `fingpt run`: everything autonomous in one event loop.

    facade (runtime: database, data, LLM, broker, bus)
      + scheduler (cycles on the exchange calendar, warm-up, post-close evaluation, summary)
      + /metrics on METRICS_PORT, kept current by a bus subscriber
      + the Telegram bot (polling or webhook) and its alert pusher, when a token is set

Stopping (SIGTERM/SIGINT, or `stop` set by a caller): no new job starts; a running cycle
finishes the step it is in and stops at the next step boundary, where nothing is half-written;
its row is closed by `orchestrator.store.cycles.mark_interrupted` (the status that function
sets, today `stopped`, with the reason `STOPPED_REASON`). Only a cycle still running after
`grace_seconds` is cancelled (and closed the same way). Then the bot, the bus and the database
are closed, in that order, so no handler writes into a closed session. At start, cycles a dead
process left `running` are closed with `RESTART_REASON`.

A cycle started by hand (the bot's /cycle) is not gated: it finishes, or is closed at shutdown.

How a cycle stops at a step boundary without reaching into `run_cycle`: the cycle announces the
end of each step on the bus (`candidates.selected`, `analysis.completed`, `decision.proposed`).
The process gives the runtime a `StepGate` around its bus; once stopping, a scheduled cycle's
next step-end event is published and then `CycleInterrupted` is raised there. It derives from
`BaseException` so the cycle's own `except Exception` (which records a *failure*) lets it pass.
Orders are only placed in the last step, after the last gate, so an interruption never leaves
an order half-placed.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from orchestrator.config import Settings
from orchestrator.events import Event, EventBus, Handler
from orchestrator.monitoring import (
    MetricsServer,
    install_store_metrics,
    start_metrics_server,
    subscribe_metrics,
)
from orchestrator.scheduler import CYCLE_JOB_ID, TradingScheduler
from orchestrator.service import jobs
from orchestrator.service.system import freeze_heap
from orchestrator.store import cycles as cycle_store
from orchestrator.store.db import session_scope

if TYPE_CHECKING:
    from orchestrator.service.facade import Orchestrator

log = logging.getLogger(__name__)

# Events that close a cycle step; a stopping process interrupts the cycle right after one.
STEP_END_EVENTS = frozenset({"candidates.selected", "analysis.completed", "decision.proposed"})
# A cycle with a remote LLM and 50 candidates runs a few minutes; a step rarely over one.
DEFAULT_GRACE_SECONDS = 120.0
# How often pending approvals are checked for expiry (APPROVAL_TIMEOUT is in minutes).
EXPIRY_CHECK_SECONDS = 30.0
STOPPED_REASON = "interrupted: the service was stopped during this cycle"
RESTART_REASON = "interrupted: the service stopped while this cycle ran (found at restart)"

# True inside cycles the process started, so only those are interrupted at a step boundary
# (a cycle someone runs by hand from the bot finishes or is cancelled with the bot).
_GATED: contextvars.ContextVar[bool] = contextvars.ContextVar("fingpt_gated_cycle", default=False)


class CycleInterrupted(BaseException):  # noqa: N818 - it is a signal, not an error
    """The process is stopping: the running cycle ends here, at a step boundary."""


class StepGate:
    """The runtime's bus as the cycle sees it (see the module docstring)."""

    def __init__(self, bus: EventBus, stopping: asyncio.Event) -> None:
        self.inner = bus
        self._stopping = stopping

    async def publish(self, event: Event) -> None:
        await self.inner.publish(event)
        if self._stopping.is_set() and _GATED.get() and event.type in STEP_END_EVENTS:
            raise CycleInterrupted(event.type)

    def subscribe(self, types: tuple[str, ...] | str, handler: Handler) -> None:
        self.inner.subscribe(types, handler)

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)  # drain(), stream, ... of the wrapped bus


class ServiceProcess:
    """Runs until `stop` is set; see the module docstring for what it runs and how it stops."""

    def __init__(
        self,
        service: Orchestrator,
        *,
        grace_seconds: float = DEFAULT_GRACE_SECONDS,
        cycle_at_start: bool = False,
        with_bot: bool | None = None,
    ) -> None:
        self.service = service
        self.settings: Settings = service.settings
        self.grace_seconds = grace_seconds
        self.cycle_at_start = cycle_at_start
        self.with_bot = (
            self.settings.telegram_bot_token is not None if with_bot is None else with_bot
        )
        self.stopping = asyncio.Event()
        self.scheduler: TradingScheduler | None = None
        self.metrics: MetricsServer | None = None
        self._cycle_task: asyncio.Task[str] | None = None
        self._bot_task: asyncio.Task[None] | None = None
        self._start_task: asyncio.Task[bool] | None = None
        self._bot_stop = asyncio.Event()
        self._expiry_task: asyncio.Task[None] | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Start everything, wait for `stop`, then stop everything (always, even on errors)."""
        try:
            await self._start()
            await stop.wait()
            log.info("stopping: no new jobs; a running cycle stops at its next step")
        finally:
            await self._stop()

    # --- start -------------------------------------------------------------------------------
    async def _start(self) -> None:
        runtime = self.service.runtime
        found = await asyncio.to_thread(self._mark_interrupted, RESTART_REASON)
        if found:
            log.warning("%d cycle(s) left running by a previous process marked interrupted", found)
        runtime.bus = StepGate(runtime.bus, self.stopping)
        self.metrics = start_metrics_server(self.settings.metrics_port)
        install_store_metrics()
        subscribe_metrics(self.service.bus)
        application = self._build_bot() if self.with_bot else None
        await self.service.bus.start()
        self.scheduler = TradingScheduler(
            self.settings,
            cycle=self._scheduled_cycle,
            warmup=self._daily(jobs.warm_up),
            post_close=self._daily(jobs.evaluate_day),
            summary=self._daily(jobs.daily_summary),
            engine=runtime.engine,
            clock=runtime.clock,
        )
        self.scheduler.start()
        self.service.next_cycle = self.scheduler.next_cycle_time
        self._expiry_task = asyncio.create_task(self._expire_approvals(), name="approval-expiry")
        if application is not None:
            from bot.app import serve

            self._bot_task = asyncio.create_task(
                serve(application, self.settings, self._bot_stop), name="telegram-bot"
            )
            self._bot_task.add_done_callback(_report_bot_exit)
        log.info(
            "fingpt run: ready (mode %s, bus %s, metrics %s, bot %s, next cycle %s)",
            self.service.mode,
            type(runtime.bus.inner).__name__,
            f":{self.metrics.port}/metrics" if self.metrics else "off",
            "on" if application is not None else "off (no TELEGRAM_BOT_TOKEN)",
            _when(self.scheduler.next_cycle_time()),
        )
        await jobs.refresh_portfolio_gauges(self.service)
        freeze_heap()
        if self.cycle_at_start:
            # Kept: the loop holds tasks weakly, and an unreferenced task may vanish mid-run.
            self._start_task = asyncio.create_task(
                self.scheduler.run_now(CYCLE_JOB_ID), name="cycle-at-start"
            )

    def _build_bot(self) -> Any:
        from bot.app import build_application

        return build_application(self.service, self.settings)

    # --- jobs --------------------------------------------------------------------------------
    async def _scheduled_cycle(self, slot: datetime) -> str:
        """The scheduler's cycle job: runs in its own task so a late stop can cancel it."""
        if self.stopping.is_set():
            return "skipped: stopping"

        async def gated() -> str:
            _GATED.set(True)
            return await jobs.run_scheduled_cycle(self.service, slot)

        task = asyncio.create_task(gated(), name=f"cycle {jobs.slot_key(slot)}")
        self._cycle_task = task
        try:
            # Shielded: only `_stop` cancels the cycle (after the grace time), nothing else.
            outcome = await asyncio.shield(task)
            freeze_heap()  # the cycle's caches live on: keep them out of the next one's way
            return outcome
        except CycleInterrupted as exc:
            marked = await asyncio.to_thread(self._mark_interrupted, STOPPED_REASON)
            log.warning("cycle stopped after step event %s; %d cycle(s) marked", exc, marked)
            return "interrupted"
        except asyncio.CancelledError:
            if task.cancelled() and self.stopping.is_set():
                return "cancelled"  # `_stop` marks it once it is done
            raise
        finally:
            self._cycle_task = None

    async def _expire_approvals(self) -> None:
        """Approvals past their expiry are marked so (and their Telegram messages edited) within
        `EXPIRY_CHECK_SECONDS`; approving one is refused at any time regardless."""
        while not self.stopping.is_set():
            try:
                expired = await self.service.expire_approvals()
                if expired:
                    log.info("%d approval(s) expired", len(expired))
            except Exception:  # a database hiccup must not end the loop
                log.exception("approval expiry check failed")
            try:
                await asyncio.wait_for(self.stopping.wait(), EXPIRY_CHECK_SECONDS)
            except TimeoutError:
                pass

    def _daily(self, job: Callable[[Orchestrator, Any], Awaitable[Any]]) -> Any:
        async def run(session: Any) -> Any:
            if self.stopping.is_set():
                return None
            return await job(self.service, session)

        run.__name__ = job.__name__
        return run

    def _mark_interrupted(self, reason: str) -> int:
        with session_scope(self.service.runtime.engine) as session:
            return cycle_store.mark_interrupted(session, reason)

    # --- stop --------------------------------------------------------------------------------
    async def _stop(self) -> None:
        self.stopping.set()
        if self._expiry_task is not None:
            await asyncio.gather(self._expiry_task, return_exceptions=True)
        if self.scheduler is not None:
            waiting = asyncio.create_task(self.scheduler.shutdown(grace_seconds=self.grace_seconds))
            await asyncio.wait([waiting], timeout=self.grace_seconds)
            cycle = self._cycle_task
            if cycle is not None and not cycle.done():
                log.error("cycle still running after %.0f s; cancelling it", self.grace_seconds)
                cycle.cancel()
                await asyncio.gather(cycle, return_exceptions=True)
            await waiting
        if self._bot_task is not None:
            self._bot_stop.set()
            await asyncio.gather(self._bot_task, return_exceptions=True)
        # Anything still marked running now (a cancelled cycle, one started by hand) stopped.
        marked = await asyncio.to_thread(self._mark_interrupted, STOPPED_REASON)
        if marked:
            log.warning("%d cycle(s) marked interrupted at shutdown", marked)
        await self.service.close()
        if self.metrics is not None:
            self.metrics.close()
        log.info("fingpt run: stopped")


def _report_bot_exit(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the Telegram bot stopped", exc_info=task.exception())


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="minutes") if moment else "none (paused or no session soon)"
