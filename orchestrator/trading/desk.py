"""The trading desk: what the cycle's execution and the approval service share.

`open_desk(parts, at)` gathers everything the risk manager needs at one moment (portfolio, market
hours, kill switch, pause, the daily-loss state, cash promised to open buy orders) and keeps the
session's trading state current: the first look in a new session records its starting equity and
lifts the previous session's daily-loss halt; a loss past MAX_DAILY_LOSS_PCT halts new entries
until the next session (stored, so a restart keeps the halt). `check(...)` runs the risk manager
and stores the verdict; `send(...)` places the order once.

`parts` is anything with `settings`, `engine`, `clock`, `market_data`, `broker` and `bus` (the
`Runtime`), so this module needs nothing above `trading`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy.engine import Engine

from orchestrator.clock import Clock
from orchestrator.config import Settings
from orchestrator.data.base import MarketData
from orchestrator.domain import (
    EXCHANGE_TZ,
    Order,
    OrderStatus,
    PortfolioSnapshot,
    Position,
    RiskVerdict,
    Side,
    TradeProposal,
    VerdictStatus,
)
from orchestrator.errors import DataError
from orchestrator.events import EventBus
from orchestrator.store.db import session_scope
from orchestrator.store.trading import RiskVerdictRow, add_verdict, load_trading_state, touch
from orchestrator.trading import notify
from orchestrator.trading.broker import Broker, OrderRequest
from orchestrator.trading.risk import RiskInputs, RiskLimits, assess, daily_loss_pct

log = logging.getLogger(__name__)


class TradingParts(Protocol):
    settings: Settings
    engine: Engine
    clock: Clock
    market_data: MarketData
    broker: Broker
    bus: EventBus


@dataclass
class Desk:
    """The state one batch of risk checks runs against; `commit` folds in each accepted order."""

    at: datetime
    portfolio: PortfolioSnapshot
    market_open: bool
    kill_switch: bool
    paused: bool
    entries_halted: bool
    halt_reason: str
    day_start_equity: float | None
    pending_buy_notional: float
    namespace: str
    limits: RiskLimits
    notes: list[str] = field(default_factory=list)
    # What a buy costs beyond its notional at this broker (the simulator's fee and slippage), so
    # the cash limit leaves room for them instead of the broker rejecting the order.
    slippage: float = 0.0  # fraction of the price
    commission: float = 0.0  # per order

    def inputs(self, price: float, regime: str | None) -> RiskInputs:
        # Spendable becomes (cash - pending - commission) / (1 + slippage): exactly what keeps
        # quantity * price * (1 + slippage) + commission within the free cash.
        free = max(0.0, self.portfolio.cash - self.pending_buy_notional - self.commission)
        costs = self.commission + free * self.slippage / (1 + self.slippage)
        return RiskInputs(
            portfolio=self.portfolio,
            price=price,
            market_open=self.market_open,
            day_start_equity=self.day_start_equity,
            kill_switch=self.kill_switch,
            entries_halted=self.entries_halted,
            pending_buy_notional=self.pending_buy_notional + costs,
            regime=regime,
        )

    def buy_cost(self, notional: float) -> float:
        return notional * (1 + self.slippage) + self.commission

    def commit(self, verdict: RiskVerdict) -> None:
        """Count an order that will be sent (or waits for approval) against the next checks.

        A buy is booked as if filled (cash down by its cost, position up), so two buys cannot
        each spend the same cash or exposure room. A sell is not booked: until it fills its cash
        is not there, and the position it reduces still counts (the conservative side).
        """
        if verdict.status == VerdictStatus.BLOCKED or verdict.side != Side.BUY:
            return
        self.book_buy(verdict.symbol, verdict.quantity, verdict.price)

    def book_buy(self, symbol: str, quantity: float, price: float) -> None:
        held = self.portfolio.position(symbol)
        total = (held.quantity if held else 0.0) + quantity
        avg = held.avg_price if held else price
        others = tuple(p for p in self.portfolio.positions if p.symbol != symbol)
        booked = Position(symbol=symbol, quantity=total, avg_price=avg, market_price=price)
        self.portfolio = self.portfolio.model_copy(
            update={
                "cash": self.portfolio.cash - self.buy_cost(quantity * price),
                "positions": (*others, booked),
            }
        )


def session_day(moment: datetime) -> date:
    return moment.astimezone(EXCHANGE_TZ).date()


async def price_of(parts: TradingParts, symbol: str, at: datetime) -> float:
    """The latest price known at `at`; raises `DataError` when there is none."""
    quote = await asyncio.to_thread(parts.market_data.get_quote, symbol, as_of=at)
    return float(quote.price)


async def open_desk(parts: TradingParts, at: datetime) -> Desk:
    """Everything the risk manager needs at `at`, with the session's trading state kept current."""
    broker = parts.broker
    portfolio = await broker.snapshot()
    market = await broker.clock()
    open_orders = await broker.open_orders()
    slippage = commission = 0.0
    if broker.name == "sim":
        slippage = parts.settings.sim_slippage_bps / 10_000.0
        commission = parts.settings.sim_commission_per_order
    last_equity = None
    if broker.name != "sim":  # Alpaca knows the previous close's equity; the simulator does not
        last_equity = (await broker.account()).last_equity
    limits = RiskLimits.from_settings(parts.settings)
    state, newly_halted = await asyncio.to_thread(
        _session_state, parts.engine, at, portfolio.equity, last_equity, limits
    )
    desk = Desk(
        at=at,
        portfolio=portfolio,
        market_open=market.is_open,
        kill_switch=state["kill_switch"],
        paused=state["paused"],
        entries_halted=state["entries_halted"],
        halt_reason=state["halt_reason"],
        day_start_equity=state["day_start_equity"],
        pending_buy_notional=0.0,  # open buys are booked into the portfolio below
        namespace=state["namespace"],
        limits=limits,
        slippage=slippage,
        commission=commission,
    )
    # Open buy orders are booked as if filled: an order placed by an earlier cycle and not yet
    # filled (the simulator fills at the next open) counts against every limit, so cycles that
    # run before it fills cannot stack orders past MAX_POSITION_PCT, exposure, or cash.
    for order in open_orders:
        remaining = max(0.0, order.quantity - order.filled_quantity)
        if order.side != Side.BUY or remaining <= 0:
            continue
        price = order.limit_price
        if price is None:
            try:
                price = await price_of(parts, order.symbol, at)
            except DataError:
                desk.notes.append(f"no price for open order {order.client_order_id}")
                continue
        desk.book_buy(order.symbol, remaining, price)
    if newly_halted:
        await notify.alert(
            parts.bus, "Daily loss limit reached: new entries halted", desk.halt_reason
        )
    return desk


def _session_state(
    engine: Engine,
    at: datetime,
    equity: float,
    last_equity: float | None,
    limits: RiskLimits,
) -> tuple[dict[str, Any], bool]:
    today = session_day(at)
    newly_halted = False
    with session_scope(engine) as session:
        state = load_trading_state(session)
        if state.day_session != today:
            state.day_session = today
            state.day_start_equity = last_equity or equity
            if state.halted_session is not None and state.halted_session != today:
                state.halted_session = None  # a daily-loss halt lasts until the next session
                state.halt_reason = ""
            touch(state)
        loss = daily_loss_pct(equity, state.day_start_equity)
        if state.halted_session != today and loss >= limits.max_daily_loss_pct:
            state.halted_session = today
            state.halt_reason = (
                f"daily loss {loss:.2f}% (equity {equity:,.2f} from {state.day_start_equity:,.2f})"
                f" reached MAX_DAILY_LOSS_PCT {limits.max_daily_loss_pct:g}%: new entries are "
                "halted until the next session"
            )
            touch(state)
            newly_halted = True
        return {
            "kill_switch": state.kill_switch,
            "paused": state.paused,
            "entries_halted": state.halted_session == today,
            "halt_reason": state.halt_reason if state.halted_session == today else "",
            "day_start_equity": state.day_start_equity,
            "namespace": state.namespace,
        }, newly_halted


async def check(
    parts: TradingParts,
    desk: Desk,
    proposal: TradeProposal,
    price: float,
    *,
    regime: str | None,
    proposal_id: int | None,
    cycle_id: int | None,
    stage: str = "proposal",
) -> tuple[RiskVerdict, int | None]:
    """Run the risk manager, store the verdict and emit `risk.verdict`; (verdict, verdict id)."""
    verdict = assess(proposal, desk.inputs(price, regime), desk.limits)
    if desk.entries_halted and desk.halt_reason and verdict.status == VerdictStatus.BLOCKED:
        # Say why the session is halted, not only that it is.
        if any("MAX_DAILY_LOSS_PCT" in reason for reason in verdict.reasons):
            verdict = replace_reasons(verdict, (desk.halt_reason,))
    row = RiskVerdictRow(
        proposal_id=proposal_id,
        cycle_id=cycle_id,
        stage=stage,
        status=verdict.status.value,
        symbol=verdict.symbol,
        side=verdict.side.value,
        quantity=verdict.quantity,
        price=verdict.price,
        reasons=list(verdict.reasons),
        clamps=[clamp.model_dump(mode="json") for clamp in verdict.clamps],
    )
    verdict_id = await asyncio.to_thread(_store_verdict, parts.engine, row)
    await notify.verdict_event(parts.bus, verdict, proposal_id=proposal_id, cycle_id=cycle_id)
    return verdict, verdict_id


def replace_reasons(verdict: RiskVerdict, reasons: tuple[str, ...]) -> RiskVerdict:
    return verdict.model_copy(update={"reasons": reasons})


def _store_verdict(engine: Engine, row: RiskVerdictRow) -> int | None:
    with session_scope(engine) as session:
        return add_verdict(session, row).id


async def send(
    parts: TradingParts,
    proposal: TradeProposal,
    verdict: RiskVerdict,
    *,
    client_order_id: str,
    cycle_id: int | None,
) -> tuple[Order | None, str]:
    """Place the order for an approved or resized verdict: (order, "") or (None, why not).

    The client order id makes this safe to repeat: a second call returns the first order.
    An infrastructure failure whose outcome is unknown leaves the order to reconciliation and
    is reported, not raised, so one symbol cannot stop the rest of a decision.
    """
    request = OrderRequest(
        client_order_id=client_order_id,
        symbol=verdict.symbol,
        side=verdict.side,
        quantity=verdict.quantity,
        order_type=proposal.order_type,
        limit_price=proposal.limit_price,
        cycle_id=cycle_id,
    )
    try:
        order = await parts.broker.submit_order(request)
    except Exception as exc:  # the broker contract: unresolved failures stay for reconcile()
        log.warning("order %s not confirmed: %s", client_order_id, exc)
        return None, f"order not confirmed ({exc}); it is checked again at the next sync"
    if order.status == OrderStatus.REJECTED:
        return order, f"the broker rejected the order: {order.reason}"
    return order, ""


def with_quantity(proposal: TradeProposal, quantity: float) -> TradeProposal:
    """The proposal as a fixed number of shares (an approval re-checks what was approved)."""
    return replace_proposal(proposal, quantity=quantity, target_weight=None)


def replace_proposal(proposal: TradeProposal, **changes: Any) -> TradeProposal:
    return proposal.model_copy(update=changes)
