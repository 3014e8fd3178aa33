"""`Orchestrator`: the one object the Telegram bot, the console chat and `fingpt run` hold.

It owns a `Runtime` (database, data provider, LLM, broker, event bus) and answers in view
models. Trading actions go through `orchestrator.service.trading` (risk re-checked, sent once);
analysis through the same functions the cycle uses, so a user sees what the cycle would see.
With `DATA_PROVIDER=offline` the clock stands inside the bundled sample (see `demo_clock`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Row
from sqlmodel import Session

from orchestrator.briefing import analyze_ticker, forecaster, retrieve
from orchestrator.clock import Clock, FixedClock
from orchestrator.config import Settings, get_settings
from orchestrator.cycle import run_cycle
from orchestrator.cycle_record import CycleRecord
from orchestrator.data.offline import sample_end_as_of
from orchestrator.decision import DEFAULT_WEIGHTS
from orchestrator.domain import EXCHANGE_TZ
from orchestrator.errors import ConfigError, NotFoundError
from orchestrator.events import EventBus
from orchestrator.feedback import hit_rates
from orchestrator.llm import CallContext, TokenBudget
from orchestrator.runtime import Runtime, build_runtime
from orchestrator.service import analysis as analysis_service
from orchestrator.service import llm as llm_service
from orchestrator.service import trading as trading_service
from orchestrator.service.views import (
    AnalysisView,
    ApprovalOutcome,
    ApprovalView,
    ChartData,
    CostView,
    CycleSummary,
    EvidenceView,
    ForecastView,
    LessonView,
    NewsView,
    OrderView,
    PerformanceView,
    PnlView,
    PortfolioView,
    RiskView,
    SentimentView,
    StatusView,
    TradingStateView,
    WeightsView,
)
from orchestrator.store import cycles as cycle_store
from orchestrator.store import feedback as feedback_store
from orchestrator.store import trading as trading_store
from orchestrator.store.db import session_scope
from orchestrator.store.weights import weight_history

# The demo stands 10 sessions before the sample's end, at 15:30 New York, so its orders can
# fill on the following sessions' bars that the sample holds.
DEMO_SESSIONS_BEFORE_END = 10
HIGHLIGHTS = 3  # retrieved passages shown by /analyze
PERFORMANCE_DAYS = 3650  # /performance: since the start, as far as anyone runs this
ALL_ORDERS = 10_000  # /performance counts trades over this many of the latest orders
COST_CYCLES = 5  # /cost: the latest cycles' cost


def demo_clock() -> FixedClock:
    """A clock inside the bundled sample: a trading afternoon with sessions still to come."""
    end = sample_end_as_of().astimezone(EXCHANGE_TZ).date()
    day = end - timedelta(days=round(DEMO_SESSIONS_BEFORE_END * 7 / 5))
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    moment = datetime(day.year, day.month, day.day, 15, 30, tzinfo=EXCHANGE_TZ)
    return FixedClock(moment.astimezone(UTC))


class Orchestrator:
    """The service facade (see the module docstring)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._cycle_lock = asyncio.Lock()
        # Set by the process that hosts a scheduler, so /status can say when the next cycle is.
        self.next_cycle: Callable[[], datetime | None] | None = None

    @classmethod
    async def create(
        cls,
        settings: Settings | None = None,
        *,
        runtime: Runtime | None = None,
        clock: Clock | None = None,
    ) -> Orchestrator:
        settings = settings or get_settings()
        if runtime is None:
            if clock is None and settings.data_provider == "offline":
                clock = demo_clock()
            runtime = await build_runtime(settings, clock=clock)
        return cls(runtime)

    async def close(self) -> None:
        await self.runtime.close()

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @property
    def bus(self) -> EventBus:
        return self.runtime.bus

    @property
    def notes(self) -> list[str]:
        """What was degraded at start (say, no knowledge base), in plain words."""
        return list(self.runtime.notes)

    @property
    def mode(self) -> str:
        if self.settings.data_provider == "offline":
            return "demo"
        return self.settings.trading_mode

    def now(self) -> datetime:
        return self.runtime.clock.now()

    # --- who may do what ---------------------------------------------------------------------
    def is_allowed_chat(self, chat_id: int) -> bool:
        return chat_id in self.settings.telegram_allowed_chat_ids

    def is_admin(self, user_id: int | str) -> bool:
        try:
            return int(user_id) in self.settings.telegram_admin_user_ids
        except (TypeError, ValueError):
            return False

    # --- status and portfolio ----------------------------------------------------------------
    async def status(self, next_cycle_at: datetime | None = None) -> StatusView:
        if next_cycle_at is None and self.next_cycle is not None:
            next_cycle_at = self.next_cycle()
        state, last, pending = await self.runtime.reads.run("status", self._status_facts)
        regime = (last[0].record or {}).get("regime", "") if last else ""
        return StatusView(
            mode=self.mode,
            broker=self.settings.broker,
            paper=not self.settings.live_trading,
            kill_switch=state.kill_switch,
            paused=state.paused,
            halted_reason=getattr(state, "halted_reason", "") or "",
            llm=self.runtime.llm.label,
            data_provider=self.settings.data_provider,
            last_cycle_at=last[0].as_of if last else None,
            last_cycle_status=last[0].status if last else "",
            next_cycle_at=next_cycle_at,
            pending_approvals=pending,
            regime=regime,
        )

    async def portfolio(self) -> PortfolioView:
        return await trading_service.portfolio(self.runtime)

    async def orders(self, limit: int = 20) -> list[OrderView]:
        return await trading_service.orders(self.runtime, limit=limit)

    async def pnl(self, days: int = 7) -> PnlView:
        return await trading_service.pnl(self.runtime, days=days)

    async def risk_view(self) -> RiskView:
        return await trading_service.risk_view(self.runtime)

    async def performance(self) -> PerformanceView:
        now = self.now()
        snapshot, (window, outcomes, trades) = await trading_service.read_with_snapshot(
            self.runtime, now, "performance", lambda session: self._performance_facts(session, now)
        )
        pnl = trading_service.pnl_view(PERFORMANCE_DAYS, now, snapshot.equity, window)
        equity = [point.equity for point in pnl.points] or [pnl.end_equity]
        peak, drawdown = equity[0], 0.0
        for value in equity:
            peak = max(peak, value)
            drawdown = min(drawdown, value / peak - 1 if peak else 0.0)
        rates = hit_rates(outcomes)
        return PerformanceView(
            total_return_pct=round(pnl.change_pct, 2),
            max_drawdown_pct=round(100 * drawdown, 2),
            trades=trades,
            decisions_evaluated=len(outcomes),
            hit_rate_pct=round(100 * sum(o.hit for o in outcomes) / len(outcomes), 1)
            if outcomes
            else None,
            hit_rate_by_signal={name: round(100 * r, 1) for name, (r, _) in rates.items()},
        )

    # --- analysis ----------------------------------------------------------------------------
    async def analyze(self, symbol: str) -> AnalysisView:
        symbol = symbol.upper()
        as_of = self.now()
        context = CallContext(
            budget=TokenBudget(self.settings.llm_chat_turn_token_budget, name="analysis budget"),
            as_of=as_of,
        )
        brief = await analyze_ticker(self.runtime, symbol, as_of=as_of, context=context)
        forecast = None
        if "forecast" in brief.signals:  # the brief already asked the LLM Forecaster, if any
            forecast = await analysis_service.forecast(
                symbol, as_of=as_of, with_llm=False, settings=self.settings, runtime=self.runtime
            )
        sentiment = None
        if "sentiment" in brief.signals:
            sentiment = SentimentView(
                score=brief.signals["sentiment"],
                label=str(brief.facts.get("sentiment", "")),
                n_items=int(brief.facts.get("news_count", 0)),
                engine=self.runtime.llm.label,
            )
        highlights = await asyncio.to_thread(self._highlights, symbol, as_of)
        return AnalysisView(
            symbol=symbol,
            as_of=as_of,
            last_price=brief.price,
            signals={
                **brief.signals,
                **{k: float(v) for k, v in brief.facts.items() if isinstance(v, int | float)},
            },
            forecast=forecast,
            sentiment=sentiment,
            highlights=highlights,
            notes=tuple(brief.notes),
        )

    async def forecast(self, symbol: str) -> ForecastView:
        """The quantitative forecast, with the LLM Forecaster's analysis when an LLM is set."""
        view = await analysis_service.forecast(
            symbol, as_of=self.now(), settings=self.settings, runtime=self.runtime
        )
        if view is None:
            raise NotFoundError(
                f"No forecast for {symbol.upper()}: not enough price history at {self.now()}."
            )
        return view

    async def news(self, symbol: str, limit: int = 10) -> list[NewsView]:
        symbol = symbol.upper()
        as_of = self.now()
        items = await asyncio.to_thread(
            self.runtime.market_data.get_news,
            [symbol],
            as_of=as_of,
            since=as_of - timedelta(days=30),
            limit=limit,
        )
        return [
            NewsView(
                published_at=item.published_at,
                headline=item.headline,
                source=item.source,
                url=item.url,
            )
            for item in items
        ]

    async def chart_data(self, symbol: str, days: int = 90) -> ChartData:
        symbol = symbol.upper()
        as_of = self.now()
        bars = (
            await asyncio.to_thread(
                self.runtime.market_data.get_bars,
                [symbol],
                (as_of - timedelta(days=days)).date(),
                as_of.date(),
                as_of=as_of,
            )
        )[symbol]
        prediction = await asyncio.to_thread(forecaster(self.runtime).predict, symbol, as_of)
        last = float(bars["close"].iloc[-1])
        low = high = None
        if prediction is not None:
            # A one-bin-wide band around the expected move: what "U2" looks like on the chart.
            low = last * (1 + prediction.expected_return - 0.01)
            high = last * (1 + prediction.expected_return + 0.01)
        orders = await trading_service.orders(self.runtime, limit=500)
        return ChartData(
            symbol=symbol,
            dates=tuple(d.date() for d in bars.index),
            close=tuple(float(v) for v in bars["close"]),
            volume=tuple(float(v) for v in bars["volume"]),
            forecast_low=low,
            forecast_high=high,
            trades=tuple(o for o in orders if o.symbol == symbol and o.filled_quantity),
        )

    # --- cycles ------------------------------------------------------------------------------
    async def run_cycle(
        self, *, slot: str | None = None, requested_by: str = "user"
    ) -> CycleRecord:
        """One cycle now (for `slot`, when the scheduler runs one). A cycle already running,
        scheduled or asked for, makes this wait for it: cycles never overlap."""
        async with self._cycle_lock:
            return await run_cycle(
                self.runtime, self.now(), slot=slot, mode=self.mode, requested_by=requested_by
            )

    async def advance_clock(self, delta: timedelta) -> int:
        """Demo and replays only: move the fixed clock on and let the broker settle (orders fill
        at the next bar's open). Returns the number of fills."""
        clock = self.runtime.clock
        if not isinstance(clock, FixedClock):
            raise ConfigError("only a fixed clock (the offline demo) can be moved")
        clock.advance_to(clock.now() + delta)
        return len(await self.runtime.broker.sync(clock.now()))

    async def run_cycle_now(self, requested_by: str = "user") -> CycleSummary:
        return summary_view(await self.run_cycle(requested_by=str(requested_by)))

    async def history(self, n: int = 10) -> list[CycleSummary]:
        return list(await self.runtime.reads.run(("history", n), lambda: self._summaries(n)))

    async def cost(self) -> CostView:
        now = self.now()
        return await self.runtime.reads.run("cost", lambda: self._cost_facts(now))

    async def lessons(self, n: int = 10) -> list[LessonView]:
        def load() -> list[LessonView]:
            with session_scope(self.runtime.engine) as session:
                rows = feedback_store.recent_lessons(session, limit=n, before=self.now())
                return [
                    LessonView(created_at=r.created_at, symbol=r.symbol, text=r.text) for r in rows
                ]

        return await asyncio.to_thread(load)

    async def weights(self, n: int = 5) -> list[WeightsView]:
        """The defaults, then the latest signal-weight changes (newest first) with reasons."""

        def load() -> list[WeightsView]:
            with session_scope(self.runtime.engine) as session:
                rows = weight_history(session, limit=n)
                changes = [
                    WeightsView(since=r.created_at, weights=r.weights, reason=r.reason)
                    for r in rows
                ]
            return [WeightsView(weights=dict(DEFAULT_WEIGHTS), reason="defaults"), *changes]

        return await asyncio.to_thread(load)

    # --- approvals and controls --------------------------------------------------------------
    async def pending_approvals(self) -> list[ApprovalView]:
        return await trading_service.pending_approvals(self.runtime)

    async def expire_approvals(self) -> list[ApprovalView]:
        """Mark approvals past their expiry as expired (each emits `approval.expired`)."""
        return await trading_service.expire_due(self.runtime)

    async def approve(self, approval_id: str, user_id: int | str) -> ApprovalOutcome:
        return await trading_service.approve(self.runtime, approval_id, user=str(user_id))

    async def reject(self, approval_id: str, user_id: int | str) -> ApprovalOutcome:
        return await trading_service.reject(self.runtime, approval_id, user=str(user_id))

    async def pause(self, user_id: int | str) -> None:
        await trading_service.pause(self.runtime, user=str(user_id))

    async def resume(self, user_id: int | str) -> None:
        await trading_service.resume(self.runtime, user=str(user_id))

    async def set_kill_switch(self, on: bool, user_id: int | str) -> None:
        await trading_service.set_kill_switch(self.runtime, on, user=str(user_id))

    def settings_view(self) -> dict[str, str]:
        return self.settings.masked()

    # --- chat --------------------------------------------------------------------------------
    async def ask(
        self, chat_id: int | str | None, text: str, user_id: int | str
    ) -> llm_service.AskView:
        """One agent run over this service's runtime (so portfolio and trading tools work);
        `chat_id` None keeps no memory. The view carries the tool trace for the CLI."""
        return await llm_service.ask(
            text,
            chat_id=None if chat_id is None else str(chat_id),
            user_is_admin=self.is_admin(user_id),
            # Admins may ask the agent to propose trades (they still wait for approval) or
            # cancel orders; everyone else gets the read-only tools.
            allow_actions=self.is_admin(user_id),
            settings=self.settings,
            engine=self.runtime.engine,
            llm=self.runtime.llm,
            market_data=self.runtime.market_data,
            broker=self.runtime.broker,
            knowledge=self.runtime.knowledge,
            as_of=self.now(),
            extras={"runtime": self.runtime},
        )

    # --- helpers -----------------------------------------------------------------------------
    def _summaries(self, n: int) -> list[CycleSummary]:
        with session_scope(self.runtime.engine) as session:
            rows = cycle_store.read_latest_cycles(session, n)
        return _summaries(rows)

    # One thread hop and one session per facade call: each hop costs 0.15-0.35 ms of CPU, as
    # much as a query, and 50 chats at once wait on all of them (docs/benchmarks/bot.md).
    def _status_facts(self) -> tuple[TradingStateView, list[Row[Any]], int]:
        now = self.now()
        with session_scope(self.runtime.engine) as session:
            return (
                trading_service.trading_state_in(session, now),
                cycle_store.read_latest_cycles(session, 1),
                trading_store.read_pending_count(session),
            )

    def _performance_facts(
        self, session: Session, now: datetime
    ) -> tuple[trading_service.EquityWindow, list[feedback_store.DecisionOutcomeRow], int]:
        """The equity window, the evaluated decisions and the number of trades (orders with a
        fill), counted here so a shared read does it once for every chat asking."""
        broker = self.runtime.broker.name
        orders = trading_store.read_recent_orders(session, broker, ALL_ORDERS)
        return (
            trading_service.equity_window(session, broker, PERFORMANCE_DAYS, now),
            feedback_store.outcomes(session),
            sum(1 for order in orders if order.filled_quantity),
        )

    def _cost_facts(self, now: datetime) -> CostView:
        with session_scope(self.runtime.engine) as session:
            today = llm_service.cost_today_in(session, now)
            rows = cycle_store.read_latest_cycles(session, COST_CYCLES)
        return today.model_copy(update={"per_cycle": tuple(_summaries(rows))})

    def _highlights(self, symbol: str, as_of: datetime) -> tuple[EvidenceView, ...]:
        return tuple(
            EvidenceView(
                title=hit.title,
                source=hit.source,
                published_at=hit.published_at,
                excerpt=" ".join(hit.text.split())[:300],
                score=round(hit.score, 3),
            )
            for hit in retrieve(self.runtime, symbol, as_of, HIGHLIGHTS)
        )


def summary_view(record: CycleRecord) -> CycleSummary:
    return CycleSummary.model_validate(record.summary())


def _summaries(rows: list[Row[Any]]) -> list[CycleSummary]:
    return [summary_view(CycleRecord.model_validate(row.record)) for row in rows if row.record]
