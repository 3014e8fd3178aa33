"""Trading for every face: approvals, the switches (pause, kill switch) and the portfolio views.

Each function takes the `Runtime` first and returns view models. Approving re-prices the trade at
`runtime.clock.now()` and runs the risk manager again before anything is sent; an expired,
unknown or already-decided approval is refused with a `UserFacingError` that says so, and nothing
is sent twice (the approval leaves `pending` through one conditional UPDATE and the order carries
the deterministic client order id of its cycle, symbol and side). Who may call what (admins
only for approvals and switches) is checked by each face before it calls here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import Row, update
from sqlmodel import col

from orchestrator.domain import (
    Order,
    OrderType,
    PortfolioSnapshot,
    Side,
    TradeProposal,
    VerdictStatus,
)
from orchestrator.errors import DataError, NotFoundError, TradingError
from orchestrator.runtime import Runtime
from orchestrator.service.views import (
    ApprovalOutcome,
    ApprovalView,
    EquityPoint,
    OrderView,
    PnlView,
    PortfolioView,
    PositionView,
    RiskView,
    TradingStateView,
)
from orchestrator.store import cycles as cycle_store
from orchestrator.store import trading as store
from orchestrator.store.db import session_scope
from orchestrator.trading import approvals, notify
from orchestrator.trading.broker import BookInDatabase
from orchestrator.trading.desk import check, open_desk, price_of, send, session_day
from orchestrator.trading.ids import client_order_id, normalize_approval_id
from orchestrator.trading.risk import regime_scale_from_settings

T = TypeVar("T")


def _in_session(runtime: Runtime, work: Callable[[Any], T]) -> Callable[[], T]:
    """`work(session)` inside one transaction, as a blocking call for a thread."""

    def run() -> T:
        with session_scope(runtime.engine) as session:
            return work(session)

    return run


async def _db(runtime: Runtime, work: Callable[[Any], T]) -> T:
    """Run `work(session)` in a thread inside one transaction."""
    return await asyncio.to_thread(_in_session(runtime, work))


async def shared_read(runtime: Runtime, key: Hashable, work: Callable[[Any], T]) -> T:
    """`work(session)`, a read for a view, in a thread inside one transaction; identical
    requests (same `key`) that arrive before it starts share it (`orchestrator.shared_reads`).
    The result is shared: do not change it."""
    return await runtime.reads.run(key, _in_session(runtime, work))


async def read_with_snapshot(
    runtime: Runtime, now: datetime, key: Hashable, work: Callable[[Any], T]
) -> tuple[PortfolioSnapshot, T]:
    """The broker's snapshot (at `now`) and `work(session)`, a read shared as `shared_read`
    shares it. A broker whose book is in this database (the simulator) is read in the same
    thread hop and session: each hop and session costs a bot command about 0.1-0.2 ms of CPU
    (docs/benchmarks/bot.md)."""
    broker = runtime.broker
    if isinstance(broker, BookInDatabase):
        return await shared_read(runtime, key, lambda s: (broker.snapshot_in(s, now), work(s)))
    snapshot = await broker.snapshot()
    return snapshot, await shared_read(runtime, key, work)


def approval_view(row: store.ApprovalRow | Row[Any]) -> ApprovalView:
    # A plain row (`store.read_pending_approvals`) has the same attributes as the ORM row.
    return ApprovalView.model_validate(approvals.approval_payload(cast(store.ApprovalRow, row)))


def order_view(order: Order) -> OrderView:
    return OrderView(
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=order.side.value,
        quantity=order.quantity,
        order_type=order.order_type.value,
        limit_price=order.limit_price,
        status=order.status.value,
        filled_quantity=order.filled_quantity,
        avg_fill_price=order.avg_fill_price,
        submitted_at=order.submitted_at,
        reason=order.reason,
    )


# --- approvals ------------------------------------------------------------------------------


async def pending_approvals(runtime: Runtime) -> list[ApprovalView]:
    """Approvals still waiting (oldest first), expired ones included until `expire_due` runs."""
    views = await shared_read(
        runtime, "pending", lambda s: [approval_view(r) for r in store.read_pending_approvals(s)]
    )
    return list(views)


async def recent_approvals(runtime: Runtime, limit: int = 20) -> list[ApprovalView]:
    return await _db(
        runtime, lambda s: [approval_view(r) for r in store.recent_approvals(s, limit)]
    )


async def _load_pending(runtime: Runtime, approval_id: str) -> store.ApprovalRow:
    wanted = normalize_approval_id(approval_id)
    if wanted is None:
        raise NotFoundError(
            f"{approval_id!r} is not an approval id (6 letters and digits, like K7Q2MX). "
            "/pending (or `fingpt approvals list`) shows the pending ones."
        )

    def load(session: Any) -> store.ApprovalRow | None:
        row = store.get_approval(session, wanted)
        if row is not None:
            session.expunge(row)
        return row

    row = await _db(runtime, load)
    if row is None:
        raise NotFoundError(
            f"No approval {wanted}. /pending (or `fingpt approvals list`) shows the pending ones."
        )
    if row.status != approvals.PENDING:
        by = f" by {row.resolved_by}" if row.resolved_by else ""
        raise TradingError(f"Approval {wanted} is already {row.status}{by}; nothing was done.")
    if approvals.is_expired(row, runtime.clock.now()):
        await _expire(runtime, row)
        raise TradingError(
            f"Approval {wanted} expired at {row.expires_at:%Y-%m-%d %H:%M} UTC and was not "
            "executed. The next cycle may propose the trade again."
        )
    return row


async def _claim(runtime: Runtime, row: store.ApprovalRow, status: str, *, by: str) -> None:
    now = runtime.clock.now()
    claimed = await _db(
        runtime,
        lambda s: store.claim_approval(s, row.id, status, by=by, at=now, unexpired=True),
    )
    if not claimed:
        raise TradingError(
            f"Approval {row.id} was resolved a moment ago (by someone else, or it expired); "
            "nothing was done."
        )


async def _finish(
    runtime: Runtime, approval_id: str, status: str, note: str, coid: str | None = None
) -> store.ApprovalRow:
    def work(session: Any) -> store.ApprovalRow:
        values: dict[str, Any] = {"status": status, "note": note}
        if coid is not None:
            values["client_order_id"] = coid
        session.execute(
            update(store.ApprovalRow)
            .where(col(store.ApprovalRow.id) == approval_id)
            .values(**values)
        )
        session.flush()
        row = store.get_approval(session, approval_id)
        assert row is not None
        session.refresh(row)
        session.expunge(row)
        return row

    return await _db(runtime, work)


async def approve(runtime: Runtime, approval_id: str, *, user: str) -> ApprovalOutcome:
    """Execute a pending approval after re-pricing it and re-running the risk manager.

    Raises `NotFoundError` (unknown id), `TradingError` (already decided, expired, trading
    paused). A risk refusal or a broker rejection at this point is an outcome, not an error: the
    approval ends `failed` with the reason.
    """
    row = await _load_pending(runtime, approval_id)
    state = await asyncio.to_thread(trading_state, runtime)
    if state.paused:
        raise TradingError(
            f"Trading is paused; resume it to approve {row.id} "
            f"(it stays pending until {row.expires_at:%H:%M} UTC)."
        )
    await _claim(runtime, row, approvals.APPROVED, by=user)
    now = runtime.clock.now()
    proposal = TradeProposal(
        symbol=row.symbol,
        side=Side(row.side),
        quantity=row.quantity,
        target_weight=None,
        order_type=OrderType(row.order_type),
        limit_price=row.limit_price,
        confidence=row.confidence,
        horizon_days=5,
        rationale=row.rationale,
    )
    desk = await open_desk(runtime, now)
    try:
        price = await price_of(runtime, row.symbol, now)
    except DataError as exc:
        note = f"no current price for {row.symbol} ({exc}); nothing was sent"
        return await _resolved(runtime, row, approvals.FAILED, note, user=user)
    regime = await _db(runtime, lambda s: _cycle_regime(s, row.cycle_id))
    verdict, _ = await check(
        runtime,
        desk,
        proposal,
        price,
        regime=regime,
        proposal_id=row.proposal_id,
        cycle_id=row.cycle_id,
        stage="approval",
    )
    if verdict.status == VerdictStatus.BLOCKED:
        note = f"risk refused it at {price:,.2f}: " + "; ".join(verdict.reasons)
        return await _resolved(runtime, row, approvals.FAILED, note, user=user)
    ref = str(row.proposal_id) if row.proposal_id is not None else row.id
    coid = client_order_id(desk.namespace, row.cycle_id, row.symbol, Side(row.side), ref=ref)
    await _finish(runtime, row.id, approvals.APPROVED, "sending", coid)
    order, problem = await send(
        runtime, proposal, verdict, client_order_id=coid, cycle_id=row.cycle_id
    )
    if order is None:
        # Sent, but the broker's answer was lost: the order's fate is settled by the next sync or
        # restart (reconciliation), so the approval stays "approved" rather than "failed".
        return await _resolved(runtime, row, approvals.APPROVED, problem, user=user)
    if problem:
        return await _resolved(runtime, row, approvals.FAILED, problem, user=user, order=order)
    resized = ""
    if verdict.status == VerdictStatus.RESIZED:
        resized = f" (resized from {row.quantity:g}: " + "; ".join(verdict.reasons) + ")"
    verb = "Buy" if row.side == Side.BUY.value else "Sell"
    note = f"{verb} {verdict.quantity:g} {row.symbol} sent at about {price:,.2f}{resized}"
    return await _resolved(runtime, row, approvals.EXECUTED, note, user=user, order=order)


async def _resolved(
    runtime: Runtime,
    row: store.ApprovalRow,
    status: str,
    note: str,
    *,
    user: str,
    order: Order | None = None,
) -> ApprovalOutcome:
    final = await _finish(runtime, row.id, status, note)
    await notify.approval_resolved(
        runtime.bus,
        approval_id=row.id,
        decision="approved",
        by=user,
        cycle_id=row.cycle_id,
        outcome=status,
        note=note,
    )
    if status == approvals.EXECUTED:
        message = note
    elif status == approvals.APPROVED:
        message = f"Approved and sent, not yet confirmed: {note}"
    else:
        message = f"Not executed: {note}"
    return ApprovalOutcome(
        approval=approval_view(final),
        message=message,
        order=order_view(order) if order is not None else None,
    )


async def reject(runtime: Runtime, approval_id: str, *, user: str) -> ApprovalOutcome:
    """Reject a pending approval; nothing is sent. Same refusals as `approve`."""
    row = await _load_pending(runtime, approval_id)
    await _claim(runtime, row, approvals.REJECTED, by=user)
    note = f"rejected by {user}; nothing was sent"
    final = await _finish(runtime, row.id, approvals.REJECTED, note)
    await notify.approval_resolved(
        runtime.bus, approval_id=row.id, decision="rejected", by=user, cycle_id=row.cycle_id
    )
    return ApprovalOutcome(
        approval=approval_view(final), message=f"Rejected {row.side} {row.symbol}: nothing sent."
    )


async def _expire(runtime: Runtime, row: store.ApprovalRow) -> bool:
    now = runtime.clock.now()
    note = f"expired at {row.expires_at:%Y-%m-%d %H:%M} UTC without a decision; not executed"
    claimed = await _db(
        runtime,
        lambda s: store.claim_approval(
            s, row.id, approvals.EXPIRED, by="timeout", at=now, note=note
        ),
    )
    if claimed:
        await notify.approval_expired(
            runtime.bus,
            approval_id=row.id,
            symbol=row.symbol,
            side=row.side,
            quantity=row.quantity,
            at=now,
            cycle_id=row.cycle_id,
        )
        await notify.approval_resolved(
            runtime.bus, approval_id=row.id, decision="expired", by="timeout", cycle_id=row.cycle_id
        )
    return claimed


async def expire_due(runtime: Runtime) -> list[ApprovalView]:
    """Expire every pending approval past its expiry (emits `approval.expired`); returns them."""
    now = runtime.clock.now()

    def due(session: Any) -> list[store.ApprovalRow]:
        rows = store.expired_pending_approvals(session, now)
        for row in rows:
            session.expunge(row)
        return rows

    expired = []
    for row in await _db(runtime, due):
        if await _expire(runtime, row):
            expired.append(await _view_of(runtime, row.id))
    return expired


async def _view_of(runtime: Runtime, approval_id: str) -> ApprovalView:
    def load(session: Any) -> ApprovalView:
        row = store.get_approval(session, approval_id)
        if row is None:
            raise NotFoundError(f"No approval {approval_id}.")
        return approval_view(row)

    return await _db(runtime, load)


def _cycle_regime(session: Any, cycle_id: int | None) -> str | None:
    if cycle_id is None:
        return None
    row = cycle_store.get_cycle(session, cycle_id)
    regime = (getattr(row, "record", None) or {}).get("regime") if row is not None else None
    return regime if isinstance(regime, str) and regime else None


# --- switches -------------------------------------------------------------------------------


def trading_state(runtime: Runtime) -> TradingStateView:
    """The switches and the daily-loss halt (blocking: callers use a thread)."""
    now = runtime.clock.now()
    with session_scope(runtime.engine) as session:
        return trading_state_in(session, now)


def trading_state_in(session: Any, now: datetime) -> TradingStateView:
    """`trading_state` inside a caller's session, for a facade call that reads more with it."""
    today = session_day(now)
    state: Any = store.read_trading_state(session)
    if state is None:  # first use: create the row (with its namespace)
        state = store.load_trading_state(session)
    halted = state.halted_session == today
    return TradingStateView(
        kill_switch=state.kill_switch,
        paused=state.paused,
        halted_reason=state.halt_reason if halted else "",
        day_start_equity=state.day_start_equity if state.day_session == today else None,
        updated_by=state.updated_by,
        updated_at=state.updated_at,
    )


async def _set_state(runtime: Runtime, user: str, **values: Any) -> TradingStateView:
    def work(session: Any) -> None:
        state = store.load_trading_state(session)
        for name, value in values.items():
            setattr(state, name, value)
        state.updated_by = user[:64]
        store.touch(state)

    await _db(runtime, work)
    return await asyncio.to_thread(trading_state, runtime)


async def pause(runtime: Runtime, *, user: str) -> TradingStateView:
    """Stop sending orders and approving (cycles still run and record what they would do)."""
    view = await _set_state(runtime, user, paused=True)
    await notify.alert(
        runtime.bus, "Trading paused", f"by {user}; /resume to continue", level="info"
    )
    return view


async def resume(runtime: Runtime, *, user: str) -> TradingStateView:
    view = await _set_state(runtime, user, paused=False)
    await notify.alert(runtime.bus, "Trading resumed", f"by {user}", level="info")
    return view


async def set_kill_switch(
    runtime: Runtime, on: bool, *, user: str, reason: str = ""
) -> TradingStateView:
    """Halt (or allow) all trading: while on, the risk manager blocks every order, exits too."""
    view = await _set_state(runtime, user, kill_switch=on)
    await notify.killswitch_event(
        runtime.bus, active=on, reason=reason or f"set by {user}", by=user
    )
    return view


# --- portfolio, orders, P&L, risk -----------------------------------------------------------


async def portfolio(runtime: Runtime) -> PortfolioView:
    broker, now = runtime.broker, runtime.clock.now()
    if isinstance(broker, BookInDatabase):
        snapshot = await shared_read(runtime, "portfolio", lambda s: broker.snapshot_in(s, now))
    else:
        snapshot = await broker.snapshot()
    equity = snapshot.equity
    positions = tuple(
        PositionView(
            symbol=p.symbol,
            quantity=p.quantity,
            avg_price=p.avg_price,
            market_price=p.market_price,
            market_value=round(p.market_value, 2),
            unrealized_pl=round(p.unrealized_pl, 2),
            unrealized_pl_pct=round(100 * (p.market_price / p.avg_price - 1), 2)
            if p.avg_price
            else 0.0,
            weight_pct=round(100 * p.market_value / equity, 2) if equity else 0.0,
        )
        for p in snapshot.positions
    )
    return PortfolioView(
        as_of=snapshot.as_of,
        cash=round(snapshot.cash, 2),
        equity=round(equity, 2),
        gross_exposure_pct=round(100 * snapshot.gross_exposure / equity, 2) if equity else 0.0,
        positions=positions,
    )


async def orders(runtime: Runtime, limit: int = 20) -> list[OrderView]:
    """The most recent orders of this broker, newest first."""
    name = runtime.broker.name
    found = await shared_read(
        runtime, ("orders", limit), lambda s: store.read_recent_orders(s, name, limit)
    )
    return [order_view(order) for order in found]


async def cancel_order(runtime: Runtime, client_order_id: str, *, user: str) -> OrderView:
    """Cancel an open order (admins only; checked by the face)."""
    return order_view(await runtime.broker.cancel_order(client_order_id))


async def pnl(runtime: Runtime, days: int) -> PnlView:
    """Equity over the last `days` days: the start, now, and one point per day recorded."""
    if days < 1:
        raise DataError("P&L needs a window of at least one day.")
    now = runtime.clock.now()
    name = runtime.broker.name
    snapshot, window = await read_with_snapshot(
        runtime, now, ("pnl", days), lambda s: equity_window(s, name, days, now)
    )
    return pnl_view(days, now, snapshot.equity, window)


EquityWindow = tuple[float | None, list[tuple[datetime, float]]]


def equity_window(session: Any, broker: str, days: int, now: datetime) -> EquityWindow:
    """The equity recorded before the window of `days` days up to `now` (None if none), and the
    snapshots taken in it (at or before `now`, oldest first)."""
    since = now - timedelta(days=days)
    rows = store.read_equity_since(session, broker, since)
    return (
        store.read_equity_before(session, broker, since),
        [(r.taken_at, r.equity) for r in rows if r.taken_at <= now],
    )


def pnl_view(days: int, now: datetime, equity_now: float, window: EquityWindow) -> PnlView:
    """The P&L view from the broker's equity now and the recorded `equity_window`."""
    start, history = window
    daily: dict[Any, float] = {}
    for at, equity in history:
        daily[session_day(at)] = equity
    daily[session_day(now)] = equity_now
    points = tuple(EquityPoint(day=day, equity=round(v, 2)) for day, v in sorted(daily.items()))
    start_equity = start if start is not None else (history[0][1] if history else equity_now)
    change = equity_now - start_equity
    return PnlView(
        days=days,
        start_equity=round(start_equity, 2),
        end_equity=round(equity_now, 2),
        change=round(change, 2),
        change_pct=round(100 * change / start_equity, 2) if start_equity else 0.0,
        points=points,
    )


async def risk_view(runtime: Runtime) -> RiskView:
    settings = runtime.settings
    now = runtime.clock.now()
    snapshot, state = await read_with_snapshot(
        runtime, now, "risk", lambda s: trading_state_in(s, now)
    )
    day_pl = None
    if state.day_start_equity:
        day_pl = round(100 * (snapshot.equity / state.day_start_equity - 1), 2)
    limits = {
        "MAX_POSITION_PCT": f"{settings.max_position_pct:g}%",
        "MAX_ORDER_NOTIONAL": f"{settings.max_order_notional:,.0f}",
        "MAX_GROSS_EXPOSURE_PCT": f"{settings.max_gross_exposure_pct:g}%",
        "MAX_DAILY_LOSS_PCT": f"{settings.max_daily_loss_pct:g}%",
        "MAX_OPEN_POSITIONS": str(settings.max_open_positions),
        "MAX_LIMIT_DEVIATION_PCT": f"{settings.max_limit_deviation_pct:g}%",
        "ALLOWED_SYMBOLS": ",".join(settings.allowed_symbols) or "any",
        "BLOCKED_SYMBOLS": ",".join(settings.blocked_symbols) or "none",
        "TRADING_HOURS_ONLY": str(settings.trading_hours_only).lower(),
        "ALLOW_SHORTING": str(settings.allow_shorting).lower(),
    }
    return RiskView(
        limits=limits,
        kill_switch=state.kill_switch,
        paused=state.paused,
        day_start_equity=state.day_start_equity,
        day_pl_pct=day_pl,
        halted_reason=state.halted_reason,
        regime_scale=dict(regime_scale_from_settings(settings)),
        approval_policy=approvals.parse_policy(settings.approval_policy).describe(),
    )


__all__ = [
    "approval_view",
    "approve",
    "cancel_order",
    "equity_window",
    "expire_due",
    "order_view",
    "orders",
    "pause",
    "pending_approvals",
    "pnl",
    "pnl_view",
    "portfolio",
    "read_with_snapshot",
    "recent_approvals",
    "reject",
    "resume",
    "risk_view",
    "set_kill_switch",
    "trading_state",
    "trading_state_in",
]
