"""What the scheduler runs in `fingpt run`: the cycle of a schedule slot and the daily jobs.

Each job is an async function the `TradingScheduler` is handed at start (see
`orchestrator.scheduler`); they take the facade, so they use the same service layer as the bot.

Failure contract: a job raises on infrastructure errors (the scheduler logs them and goes on);
data gaps during the warm-up are logged per symbol and do not stop the other symbols.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from orchestrator.domain import EXCHANGE_TZ
from orchestrator.errors import DataError
from orchestrator.event_payloads import DailySummary
from orchestrator.events import make_event
from orchestrator.monitoring import bind_log_context, set_portfolio, set_regime

if TYPE_CHECKING:
    from orchestrator.service.facade import Orchestrator

log = logging.getLogger(__name__)

# The screener and the forecaster look back about a year; warming 400 calendar days of daily
# bars covers both, so the first cycle of the day reads from the cache.
WARMUP_LOOKBACK_DAYS = 400
# News of the last day is what the first cycle asks for ("since the last cycle").
WARMUP_NEWS_DAYS = 1
# Symbols fetched per request during the warm-up; a bad symbol costs one small batch.
WARMUP_BATCH = 25


def slot_key(slot: datetime) -> str:
    """The stored name of a schedule slot (UTC minute), unique per slot: "2015-03-02T15:30Z"."""
    return slot.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


async def run_scheduled_cycle(service: Orchestrator, slot: datetime) -> str:
    """Run the cycle of `slot`; returns what happened, in words.

    Paused trading and the kill switch do not skip the cycle: it still records what it would
    have done, and the trading layer sends nothing (docs/OPERATIONS.md, "Controls"). A slot
    that already ran (a restart re-firing a coalesced run) is refused by `run_cycle` and
    reported here, not raised. Other cycle errors propagate to the scheduler's log.
    """
    from orchestrator.cycle import SlotAlreadyRun

    with bind_log_context(slot=slot_key(slot)):
        try:
            record = await service.run_cycle(slot=slot_key(slot), requested_by="scheduler")
        except SlotAlreadyRun as exc:
            log.info("%s", exc)
            return "skipped: slot already ran"
    await refresh_portfolio_gauges(service)
    if record.regime:
        set_regime(record.regime)
    outcome = f"cycle #{record.cycle_id} {record.status}"
    log.info(
        "%s: %d candidates, %d proposals, %d tokens",
        outcome,
        len(record.candidates),
        len(record.proposals),
        record.tokens,
    )
    return outcome


async def refresh_portfolio_gauges(service: Orchestrator) -> None:
    """Set the equity and open-positions gauges from the broker (at start and after cycles).

    A broker that cannot be read leaves the gauges as they were (logged): a stale gauge is
    better than a service that stops over a metric.
    """
    try:
        view = await service.portfolio()
    except Exception as exc:
        log.warning("portfolio gauges not refreshed: %s", exc)
        return
    set_portfolio(view.equity, sum(1 for p in view.positions if p.quantity))


async def warm_up(service: Orchestrator, session: date) -> int:
    """Pre-open: fetch the universe's bars and the last day's news into the cache.

    Returns how many symbols now have bars. Symbols without data are logged and skipped.
    """
    runtime = service.runtime
    settings = runtime.settings
    as_of = service.now()
    held = [p.symbol for p in (await service.portfolio()).positions]
    symbols = list(dict.fromkeys([*settings.universe, *held]))
    start = session - timedelta(days=WARMUP_LOOKBACK_DAYS)
    warmed = 0
    for index in range(0, len(symbols), WARMUP_BATCH):
        batch = symbols[index : index + WARMUP_BATCH]
        warmed += await _warm_batch(service, batch, start, session, as_of)
    try:
        await asyncio.to_thread(
            runtime.market_data.get_news,
            symbols,
            as_of=as_of,
            since=as_of - timedelta(days=WARMUP_NEWS_DAYS),
            limit=10 * len(symbols),
        )
    except DataError as exc:
        log.warning("warm-up: news not fetched: %s", exc)
    log.info("warm-up for %s: bars for %d of %d symbols", session, warmed, len(symbols))
    return warmed


async def _warm_batch(
    service: Orchestrator, batch: list[str], start: date, end: date, as_of: datetime
) -> int:
    market_data = service.runtime.market_data
    try:
        bars = await asyncio.to_thread(market_data.get_bars, batch, start, end, as_of=as_of)
        return sum(1 for frame in bars.values() if len(frame))
    except DataError as exc:
        # One bad symbol fails the batch: retry one by one so the others still get cached.
        log.warning("warm-up: %s; retrying one symbol at a time", exc)
    warmed = 0
    for symbol in batch:
        try:
            bars = await asyncio.to_thread(market_data.get_bars, [symbol], start, end, as_of=as_of)
        except DataError as exc:
            log.warning("warm-up: %s skipped: %s", symbol, exc)
            continue
        warmed += int(bool(len(bars.get(symbol, ()))))
    return warmed


async def evaluate_day(service: Orchestrator, session: date) -> dict[str, object]:
    """Post-close: score past decisions whose horizon ended, write lessons, re-tune weights."""
    from orchestrator.feedback import evaluate_and_reflect

    result = await evaluate_and_reflect(service.runtime, service.now())
    log.info(
        "post-close %s: %s outcomes, %s lessons",
        session,
        result.get("outcomes", 0),
        len(result.get("lessons", []) or []),
    )
    return result


async def daily_summary(service: Orchestrator, session: date) -> DailySummary:
    """After the close: the day's P&L, cycles, orders and LLM cost, published as `daily.summary`.

    The bot's alert pusher and the metrics subscriber pick the event up from the bus.
    """
    pnl = await service.pnl(days=1)
    cycles = [c for c in await service.history(200) if _session_of(c.as_of) == session]
    orders = [
        o
        for o in await service.orders(limit=1000)
        if o.submitted_at is not None and _session_of(o.submitted_at) == session
    ]
    cost = await service.cost()
    summary = DailySummary(
        session=session,
        equity=round(pnl.end_equity, 2),
        pnl=round(pnl.change, 2),
        pnl_pct=round(pnl.change_pct, 3),
        cycles=len(cycles),
        orders=len(orders),
        cost_usd=round(cost.today_cost_usd, 4),
    )
    await service.bus.publish(make_event(summary))
    log.info("daily summary %s: %s", session, summary.model_dump(mode="json"))
    return summary


def _session_of(moment: datetime) -> date:
    if moment.tzinfo is None:  # stored UTC without a zone (SQLite)
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(EXCHANGE_TZ).date()
