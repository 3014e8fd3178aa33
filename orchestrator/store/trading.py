"""Trading tables: proposals, verdicts, approvals, orders, fills, the simulated account and the
trading state (kill switch, daily-loss halt, pause), plus snapshots of positions and equity.

Repository functions take a `Session`; the row classes are the storage shape, and `order_from_row`
/ `fill_from_row` turn them into domain objects for the layers above. The `read_*` functions at
the end serve read-only views (a bot command, fifty chats at once) with plain rows instead of ORM
objects.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Row, UniqueConstraint, bindparam, func, update
from sqlalchemy import select as core_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from orchestrator.domain import Fill, Order, OrderStatus, OrderType, Side
from orchestrator.store.base import utc_field, utcnow

# Order states after which nothing more can happen to an order.
FINAL_ORDER_STATUSES = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)


class TradeProposalRow(SQLModel, table=True):
    __tablename__ = "trade_proposal"

    id: int | None = Field(default=None, primary_key=True)
    cycle_id: int | None = Field(default=None, index=True)
    created_at: datetime = utc_field(default_now=True)
    source: str = Field(default="agent", max_length=16)  # agent | tool | user
    symbol: str = Field(default="", max_length=16)
    side: str = Field(default="", max_length=8)
    quantity: float | None = None
    target_weight: float | None = None
    order_type: str = Field(default="market", max_length=8)
    limit_price: float | None = None
    confidence: float | None = None
    horizon_days: int | None = None
    rationale: str = Field(default="")
    evidence_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # "accepted" went on to risk; "dropped" failed validation, with the reason kept.
    status: str = Field(default="accepted", max_length=16)
    drop_reason: str = Field(default="")
    raw: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class RiskVerdictRow(SQLModel, table=True):
    __tablename__ = "risk_verdict"

    id: int | None = Field(default=None, primary_key=True)
    proposal_id: int | None = Field(default=None, index=True)
    cycle_id: int | None = Field(default=None, index=True)
    created_at: datetime = utc_field(default_now=True)
    stage: str = Field(default="proposal", max_length=16)  # proposal | approval (re-check)
    status: str = Field(max_length=16)
    symbol: str = Field(max_length=16)
    side: str = Field(max_length=8)
    quantity: float
    price: float
    reasons: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    clamps: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )


class ApprovalRow(SQLModel, table=True):
    __tablename__ = "approval"

    id: str = Field(primary_key=True, max_length=12)
    proposal_id: int | None = Field(default=None, index=True)
    verdict_id: int | None = None
    cycle_id: int | None = None
    symbol: str = Field(max_length=16)
    side: str = Field(max_length=8)
    quantity: float
    order_type: str = Field(default="market", max_length=8)
    limit_price: float | None = None
    price: float
    notional: float
    confidence: float = 0.0
    rationale: str = Field(default="")
    verdict: str = Field(default="approved", max_length=16)  # approved | resized
    reasons: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    clamps: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    # pending -> rejected | expired | approved -> executed | failed (risk refused it at
    # approval time, or the broker refused the order; `note` says why)
    status: str = Field(default="pending", max_length=16, index=True)
    created_at: datetime = utc_field(default_now=True)
    expires_at: datetime = utc_field()
    resolved_at: datetime | None = utc_field(nullable=True)
    resolved_by: str = Field(default="", max_length=64)
    note: str = Field(default="")
    client_order_id: str | None = Field(default=None, max_length=64)


class OrderRow(SQLModel, table=True):
    __tablename__ = "order"

    id: int | None = Field(default=None, primary_key=True)
    client_order_id: str = Field(unique=True, index=True, max_length=64)
    broker: str = Field(max_length=16)
    broker_order_id: str | None = Field(default=None, max_length=64)
    cycle_id: int | None = None
    symbol: str = Field(max_length=16)
    side: str = Field(max_length=8)
    quantity: float
    order_type: str = Field(default="market", max_length=8)
    limit_price: float | None = None
    status: str = Field(default="new", max_length=24, index=True)
    filled_quantity: float = 0.0
    avg_fill_price: float | None = None
    submitted_at: datetime = utc_field(default_now=True)
    updated_at: datetime = utc_field(default_now=True)
    reason: str = Field(default="")


class FillRow(SQLModel, table=True):
    __tablename__ = "fill"
    __table_args__ = (UniqueConstraint("client_order_id", "fill_key", name="uq_fill_key"),)

    id: int | None = Field(default=None, primary_key=True)
    client_order_id: str = Field(index=True, max_length=64)
    # Identifies one fill of an order (the cumulative quantity it brought the order to), so a
    # fill seen twice while polling is stored once.
    fill_key: str = Field(max_length=64)
    symbol: str = Field(max_length=16)
    side: str = Field(max_length=8)
    quantity: float
    price: float
    fee: float = 0.0
    timestamp: datetime = utc_field()


class SimAccountRow(SQLModel, table=True):
    __tablename__ = "sim_account"

    id: int = Field(default=1, primary_key=True)
    cash: float
    starting_cash: float
    created_at: datetime = utc_field(default_now=True)
    updated_at: datetime = utc_field(default_now=True)


class SimPositionRow(SQLModel, table=True):
    __tablename__ = "sim_position"

    symbol: str = Field(primary_key=True, max_length=16)
    quantity: float
    avg_price: float
    updated_at: datetime = utc_field(default_now=True)


class PositionSnapshotRow(SQLModel, table=True):
    __tablename__ = "position_snapshot"

    id: int | None = Field(default=None, primary_key=True)
    taken_at: datetime = utc_field(index=True)
    broker: str = Field(max_length=16)
    symbol: str = Field(max_length=16)
    quantity: float
    avg_price: float
    market_price: float


class EquitySnapshotRow(SQLModel, table=True):
    __tablename__ = "equity_snapshot"

    id: int | None = Field(default=None, primary_key=True)
    taken_at: datetime = utc_field(index=True)
    broker: str = Field(max_length=16)
    cash: float
    equity: float
    gross_exposure: float


class TradingStateRow(SQLModel, table=True):
    __tablename__ = "trading_state"

    id: int = Field(default=1, primary_key=True)
    # Random per database: client order ids stay unique at a broker across database resets.
    namespace: str = Field(max_length=8)
    kill_switch: bool = False
    paused: bool = False
    halted_session: date | None = None  # the session whose daily-loss breach halted entries
    halt_reason: str = Field(default="")
    day_session: date | None = None  # the session that day_start_equity belongs to
    day_start_equity: float | None = None
    updated_at: datetime = utc_field(default_now=True)
    updated_by: str = Field(default="", max_length=64)


# --- trading state ------------------------------------------------------------------------------


def load_trading_state(session: Session) -> TradingStateRow:
    """The single state row, created on first use."""
    row = session.get(TradingStateRow, 1)
    if row is None:
        # Two first requests at once (say /status from two chats) may both try to create it;
        # the loser rolls its insert back and reads the winner's row.
        try:
            with session.begin_nested():
                session.add(TradingStateRow(id=1, namespace=secrets.token_hex(3)))
        except IntegrityError:
            pass
        row = session.get(TradingStateRow, 1)
        assert row is not None  # it exists now, ours or the other's
    return row


# --- orders and fills ---------------------------------------------------------------------------


def order_from_row(row: OrderRow) -> Order:
    return Order(
        client_order_id=row.client_order_id,
        symbol=row.symbol,
        side=Side(row.side),
        quantity=row.quantity,
        order_type=OrderType(row.order_type),
        limit_price=row.limit_price,
        status=OrderStatus(row.status),
        broker_order_id=row.broker_order_id,
        filled_quantity=row.filled_quantity,
        avg_fill_price=row.avg_fill_price,
        submitted_at=row.submitted_at,
        reason=row.reason,
    )


def fill_from_row(row: FillRow) -> Fill:
    return Fill(
        client_order_id=row.client_order_id,
        symbol=row.symbol,
        side=Side(row.side),
        quantity=row.quantity,
        price=row.price,
        fee=row.fee,
        timestamp=row.timestamp,
    )


def get_order_row(session: Session, client_order_id: str) -> OrderRow | None:
    return session.exec(select(OrderRow).where(OrderRow.client_order_id == client_order_id)).first()


def open_order_rows(session: Session, broker: str) -> list[OrderRow]:
    """Orders of `broker` that may still change (not filled, canceled, rejected or expired)."""
    finals = [status.value for status in FINAL_ORDER_STATUSES]
    statement = (
        select(OrderRow)
        .where(OrderRow.broker == broker, col(OrderRow.status).not_in(finals))
        .order_by(col(OrderRow.id))
    )
    return list(session.exec(statement))


def recent_orders(session: Session, limit: int = 20, broker: str | None = None) -> list[Order]:
    statement = select(OrderRow).order_by(col(OrderRow.id).desc()).limit(limit)
    if broker:
        statement = statement.where(OrderRow.broker == broker)
    return [order_from_row(row) for row in session.exec(statement)]


def add_fill(session: Session, fill: Fill, fill_key: str) -> bool:
    """Store a fill once; False when this (order, fill_key) was already stored."""
    exists = session.exec(
        select(FillRow).where(
            FillRow.client_order_id == fill.client_order_id, FillRow.fill_key == fill_key
        )
    ).first()
    if exists is not None:
        return False
    session.add(
        FillRow(
            client_order_id=fill.client_order_id,
            fill_key=fill_key,
            symbol=fill.symbol,
            side=fill.side.value,
            quantity=fill.quantity,
            price=fill.price,
            fee=fill.fee,
            timestamp=fill.timestamp,
        )
    )
    return True


def fills_for(session: Session, client_order_id: str) -> list[Fill]:
    statement = (
        select(FillRow).where(FillRow.client_order_id == client_order_id).order_by(col(FillRow.id))
    )
    return [fill_from_row(row) for row in session.exec(statement)]


# --- approvals ----------------------------------------------------------------------------------


def claim_approval(
    session: Session,
    approval_id: str,
    new_status: str,
    *,
    by: str,
    at: datetime,
    note: str = "",
    unexpired: bool = False,
) -> bool:
    """Move a pending approval to `new_status` atomically; False if it was no longer pending
    (or, with `unexpired`, if it had expired by `at`).

    The conditional UPDATE is what makes an approval resolve exactly once, even when two admins
    press Approve at the same moment, and never after its expiry.
    """
    statement = update(ApprovalRow).where(
        col(ApprovalRow.id) == approval_id, col(ApprovalRow.status) == "pending"
    )
    if unexpired:
        statement = statement.where(col(ApprovalRow.expires_at) > at)
    result = session.execute(
        statement.values(status=new_status, resolved_by=by, resolved_at=at, note=note)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def pending_approvals(session: Session) -> list[ApprovalRow]:
    statement = (
        select(ApprovalRow)
        .where(ApprovalRow.status == "pending")
        .order_by(col(ApprovalRow.created_at))
    )
    return list(session.exec(statement))


def expired_pending_approvals(session: Session, now: datetime) -> list[ApprovalRow]:
    statement = select(ApprovalRow).where(
        ApprovalRow.status == "pending", col(ApprovalRow.expires_at) <= now
    )
    return list(session.exec(statement))


def recent_approvals(session: Session, limit: int = 20) -> list[ApprovalRow]:
    statement = select(ApprovalRow).order_by(col(ApprovalRow.created_at).desc()).limit(limit)
    return list(session.exec(statement))


def touch(row: OrderRow | SimAccountRow | SimPositionRow | TradingStateRow) -> None:
    row.updated_at = utcnow()


# --- proposals, verdicts and approvals (written by execution and the approval service) --------


def add_proposal(session: Session, row: TradeProposalRow) -> TradeProposalRow:
    session.add(row)
    session.flush()
    return row


def find_cycle_proposal(
    session: Session, cycle_id: int, symbol: str, side: str, source: str = "agent"
) -> TradeProposalRow | None:
    """The accepted proposal a cycle already stored for (symbol, side): re-running a cycle's
    decision reuses it instead of creating a second one."""
    statement = select(TradeProposalRow).where(
        TradeProposalRow.cycle_id == cycle_id,
        TradeProposalRow.symbol == symbol,
        TradeProposalRow.side == side,
        TradeProposalRow.source == source,
        TradeProposalRow.status == "accepted",
    )
    return session.exec(statement.order_by(col(TradeProposalRow.id))).first()


def add_verdict(session: Session, row: RiskVerdictRow) -> RiskVerdictRow:
    session.add(row)
    session.flush()
    return row


def get_approval(session: Session, approval_id: str) -> ApprovalRow | None:
    return session.get(ApprovalRow, approval_id)


def approval_for_proposal(session: Session, proposal_id: int) -> ApprovalRow | None:
    statement = select(ApprovalRow).where(ApprovalRow.proposal_id == proposal_id)
    return session.exec(statement.order_by(col(ApprovalRow.created_at))).first()


def record_equity(
    session: Session, *, broker: str, at: datetime, cash: float, equity: float, gross: float
) -> None:
    session.add(
        EquitySnapshotRow(
            taken_at=at, broker=broker, cash=cash, equity=equity, gross_exposure=gross
        )
    )


def latest_verdict(session: Session, proposal_id: int) -> RiskVerdictRow | None:
    statement = (
        select(RiskVerdictRow)
        .where(RiskVerdictRow.proposal_id == proposal_id)
        .order_by(col(RiskVerdictRow.id).desc())
    )
    return session.exec(statement).first()


# --- reads for views: plain rows -----------------------------------------------------------------
# A bot command reads a few rows. Loaded as ORM objects (identity map, instrumentation, an ORM
# execution per query) each costs 0.2-0.3 ms of CPU more than the same row read by a Core
# statement on the session's connection (about 0.05 ms), and with fifty chats asking at once
# the bot pays that fifty times (docs/benchmarks/bot.md). The statements are built once. These
# reads do not flush the session first: they are for read-only work, not for a session that
# holds unsaved changes.

_state = TradingStateRow.__table__  # type: ignore[attr-defined]
_READ_STATE = core_select(_state).where(_state.c.id == 1)
_account = SimAccountRow.__table__  # type: ignore[attr-defined]
_READ_CASH = core_select(_account.c.cash).where(_account.c.id == 1)
_positions = SimPositionRow.__table__  # type: ignore[attr-defined]
_READ_POSITIONS = core_select(
    _positions.c.symbol, _positions.c.quantity, _positions.c.avg_price
).order_by(_positions.c.symbol)
_approvals = ApprovalRow.__table__  # type: ignore[attr-defined]
_COUNT_PENDING = (
    core_select(func.count()).select_from(_approvals).where(_approvals.c.status == "pending")
)
_READ_PENDING = (
    core_select(_approvals)
    .where(_approvals.c.status == "pending")
    .order_by(_approvals.c.created_at)
)
_orders = OrderRow.__table__  # type: ignore[attr-defined]
_READ_ORDERS = (
    core_select(_orders)
    .where(_orders.c.broker == bindparam("broker"))
    .order_by(_orders.c.id.desc())
    .limit(bindparam("limit"))
)
_equity = EquitySnapshotRow.__table__  # type: ignore[attr-defined]
_READ_EQUITY_BEFORE = (
    core_select(_equity.c.equity)
    .where(_equity.c.broker == bindparam("broker"), _equity.c.taken_at < bindparam("moment"))
    .order_by(_equity.c.taken_at.desc())
    .limit(1)
)
_READ_EQUITY_SINCE = (
    core_select(_equity.c.taken_at, _equity.c.equity)
    .where(_equity.c.broker == bindparam("broker"), _equity.c.taken_at >= bindparam("since"))
    .order_by(_equity.c.taken_at)
)


def read_trading_state(session: Session) -> Row[Any] | None:
    """The trading state's values (the columns of `TradingStateRow`), or None before the row
    exists (`load_trading_state` creates it)."""
    return session.connection().execute(_READ_STATE).first()


def read_sim_cash(session: Session) -> float | None:
    """The simulated account's cash, or None before the account exists."""
    return session.connection().execute(_READ_CASH).scalar()


def read_sim_positions(session: Session) -> list[Row[Any]]:
    """(symbol, quantity, avg_price) of every simulated position, by symbol."""
    return list(session.connection().execute(_READ_POSITIONS))


def read_pending_count(session: Session) -> int:
    """How many `pending_approvals` there are, without loading them."""
    return int(session.connection().execute(_COUNT_PENDING).scalar_one())


def read_pending_approvals(session: Session) -> list[Row[Any]]:
    """`pending_approvals` as plain rows (the columns of `ApprovalRow`), oldest first."""
    return list(session.connection().execute(_READ_PENDING))


def read_recent_orders(session: Session, broker: str, limit: int = 20) -> list[Order]:
    """`recent_orders` of one broker (newest first), read as plain rows."""
    rows = session.connection().execute(_READ_ORDERS, {"broker": broker, "limit": limit})
    return [order_from_row(row) for row in rows]  # type: ignore[arg-type]


def read_equity_before(session: Session, broker: str, moment: datetime) -> float | None:
    """The equity of the last snapshot taken before `moment`, or None."""
    found = session.connection().execute(_READ_EQUITY_BEFORE, {"broker": broker, "moment": moment})
    return found.scalar()


def read_equity_since(session: Session, broker: str, since: datetime) -> list[Row[Any]]:
    """(taken_at, equity) of the snapshots taken at or after `since`, oldest first."""
    return list(
        session.connection().execute(_READ_EQUITY_SINCE, {"broker": broker, "since": since})
    )
