"""`SimBroker`: a simulated broker whose whole state (cash, positions, orders, fills) lives in the
database, so it survives restarts and a backtest can be inspected afterwards.

Fill rules (point-in-time; nothing is filled from a price not yet known at `sync(as_of)`):
- An order waits for the first price after its submission time. That is the open of the first
  session that opens after it (known once that daily bar is), or, before such a bar is known,
  a quote stamped after the submission.
- Market orders fill at that price moved against the order by `SIM_SLIPPAGE_BPS`; every fill
  pays `SIM_COMMISSION_PER_ORDER`.
- Limit orders are day orders: they fill when the price trades through the limit (a buy when the
  session's low reaches it, at the better of open and limit; a sell mirrored), else they expire
  with that session. Slippage never pushes a limit fill past its limit.
- No margin and no shorting: a buy needing more cash than is free (cash minus open buys), or a
  sell of more than is held (minus open sells), is rejected with the reason, at submission or,
  if prices moved, at fill time.
Market hours are regular NYSE hours on weekdays (holidays are not modelled; the scheduler uses
the exchange calendar so cycles do not run on them).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, time

import pandas as pd
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from orchestrator.clock import Clock
from orchestrator.data.base import MarketData
from orchestrator.domain import (
    EXCHANGE_TZ,
    Fill,
    Order,
    OrderStatus,
    OrderType,
    PortfolioSnapshot,
    Position,
    Side,
    session_close,
)
from orchestrator.errors import DataError, NotFoundError, TradingError
from orchestrator.events import EventBus
from orchestrator.store.db import session_scope
from orchestrator.store.trading import (
    FINAL_ORDER_STATUSES,
    OrderRow,
    SimAccountRow,
    SimPositionRow,
    add_fill,
    get_order_row,
    open_order_rows,
    order_from_row,
    read_sim_cash,
    read_sim_positions,
    touch,
)
from orchestrator.trading import notify
from orchestrator.trading.broker import Account, MarketClock, OrderRequest

log = logging.getLogger(__name__)

SESSION_OPEN = time(9, 30)


def regular_hours_open(moment: datetime) -> bool:
    """Weekday 09:30-16:00 New York."""
    local = moment.astimezone(EXCHANGE_TZ)
    return local.weekday() < 5 and SESSION_OPEN <= local.time() < time(16, 0)


def session_open(day: datetime | pd.Timestamp) -> datetime:
    return datetime.combine(day.date(), SESSION_OPEN, tzinfo=EXCHANGE_TZ)


class SimBroker:
    """The simulated broker; see the module docstring for fills and the `Broker` contract."""

    name = "sim"

    def __init__(
        self,
        engine: Engine,
        market_data: MarketData,
        *,
        clock: Clock,
        bus: EventBus | None = None,
        slippage_bps: float = 5.0,
        commission_per_order: float = 1.0,
        starting_cash: float = 100_000.0,
        market_hours: Callable[[datetime], bool] = regular_hours_open,
    ) -> None:
        self._engine = engine
        self._data = market_data
        self._clock = clock
        self._bus = bus
        self._slippage = slippage_bps / 10_000.0
        self._commission = commission_per_order
        self._starting_cash = starting_cash
        self._market_hours = market_hours

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        await asyncio.to_thread(self._ensure_account)

    async def close(self) -> None:
        return None

    def _ensure_account(self) -> None:
        with session_scope(self._engine) as session:
            self._account_row(session)

    def _account_row(self, session: Session) -> SimAccountRow:
        row = session.get(SimAccountRow, 1)
        if row is None:
            row = SimAccountRow(id=1, cash=self._starting_cash, starting_cash=self._starting_cash)
            session.add(row)
            session.flush()
        return row

    # --- orders ------------------------------------------------------------------------------

    async def submit_order(self, request: OrderRequest) -> Order:
        order, created = await asyncio.to_thread(self._submit, request)
        if created:
            event_type = (
                "order.rejected" if order.status == OrderStatus.REJECTED else "order.submitted"
            )
            await notify.order_event(self._bus, event_type, order, cycle_id=request.cycle_id)
        return order

    def _submit(self, request: OrderRequest) -> tuple[Order, bool]:
        """The order for this client id and whether this call created it."""
        try:
            with session_scope(self._engine) as session:
                existing = get_order_row(session, request.client_order_id)
                if existing is not None:
                    return order_from_row(existing), False
                now = self._clock.now()
                reason = self._refusal(session, request, now)
                row = OrderRow(
                    client_order_id=request.client_order_id,
                    broker=self.name,
                    broker_order_id=f"sim-{uuid.uuid4().hex[:16]}",
                    cycle_id=request.cycle_id,
                    symbol=request.symbol,
                    side=request.side.value,
                    quantity=request.quantity,
                    order_type=request.order_type.value,
                    limit_price=request.limit_price,
                    status=(OrderStatus.REJECTED if reason else OrderStatus.SUBMITTED).value,
                    submitted_at=now,
                    updated_at=now,
                    reason=reason,
                )
                session.add(row)
                session.flush()
                return order_from_row(row), True
        except IntegrityError:
            # Another task inserted the same client order id first: that order is the one.
            with session_scope(self._engine) as session:
                row = get_order_row(session, request.client_order_id)
                if row is None:
                    raise
                return order_from_row(row), False

    def _refusal(self, session: Session, request: OrderRequest, now: datetime) -> str:
        """Why the simulator refuses this order now, or "" when it accepts it."""
        if request.quantity <= 0:
            return "quantity must be positive"
        if request.order_type == OrderType.LIMIT and not request.limit_price:
            return "a limit order needs a limit price"
        if request.side == Side.SELL:
            held = self._held(session, request.symbol) - self._reserved_sells(session, request)
            if request.quantity > held + 1e-9:
                return (
                    f"insufficient position: {held:g} {request.symbol} free to sell "
                    "(the simulator does not short)"
                )
            return ""
        try:
            price = self._data.get_quote(request.symbol, as_of=now).price
        except DataError as exc:
            return f"no price for {request.symbol}: {exc}"
        if request.order_type == OrderType.LIMIT and request.limit_price:
            price = request.limit_price
        cost = request.quantity * price * (1 + self._slippage) + self._commission
        free = self._account_row(session).cash - self._reserved_cash(session, now)
        if cost > free + 1e-9:
            return f"insufficient buying power: needs {cost:,.2f}, {free:,.2f} available"
        return ""

    def _held(self, session: Session, symbol: str) -> float:
        row = session.get(SimPositionRow, symbol)
        return row.quantity if row else 0.0

    def _reserved_sells(self, session: Session, request: OrderRequest) -> float:
        return sum(
            row.quantity
            for row in open_order_rows(session, self.name)
            if row.side == Side.SELL.value and row.symbol == request.symbol
        )

    def _reserved_cash(self, session: Session, now: datetime) -> float:
        reserved = 0.0
        for row in open_order_rows(session, self.name):
            if row.side != Side.BUY.value:
                continue
            price = row.limit_price
            if price is None:
                try:
                    price = self._data.get_quote(row.symbol, as_of=now).price
                except DataError:
                    price = 0.0
            reserved += row.quantity * price * (1 + self._slippage) + self._commission
        return reserved

    async def cancel_order(self, client_order_id: str) -> Order:
        return await asyncio.to_thread(self._cancel, client_order_id)

    def _cancel(self, client_order_id: str) -> Order:
        with session_scope(self._engine) as session:
            row = get_order_row(session, client_order_id)
            if row is None or row.broker != self.name:
                raise NotFoundError(f"no simulated order {client_order_id}")
            if OrderStatus(row.status) in FINAL_ORDER_STATUSES:
                raise TradingError(f"order {client_order_id} is already {row.status}")
            row.status = OrderStatus.CANCELED.value
            row.reason = "canceled on request"
            touch(row)
            return order_from_row(row)

    async def get_order(self, broker_order_id: str) -> Order | None:
        def read() -> Order | None:
            with session_scope(self._engine) as session:
                statement = select(OrderRow).where(OrderRow.broker_order_id == broker_order_id)
                row = session.exec(statement).first()
                return order_from_row(row) if row else None

        return await asyncio.to_thread(read)

    async def get_order_by_client_id(self, client_order_id: str) -> Order | None:
        def read() -> Order | None:
            with session_scope(self._engine) as session:
                row = get_order_row(session, client_order_id)
                return order_from_row(row) if row else None

        return await asyncio.to_thread(read)

    async def open_orders(self) -> list[Order]:
        def read() -> list[Order]:
            with session_scope(self._engine) as session:
                return [order_from_row(row) for row in open_order_rows(session, self.name)]

        return await asyncio.to_thread(read)

    # --- account -----------------------------------------------------------------------------

    async def positions(self) -> list[Position]:
        return list((await self.snapshot()).positions)

    async def account(self) -> Account:
        def read() -> Account:
            now = self._clock.now()
            with session_scope(self._engine) as session:
                snapshot = self.snapshot_in(session, now)
                reserved = self._reserved_cash(session, now)
            return Account(
                cash=snapshot.cash,
                equity=snapshot.equity,
                buying_power=max(0.0, snapshot.cash - reserved),
            )

        return await asyncio.to_thread(read)

    async def clock(self) -> MarketClock:
        now = self._clock.now()
        return MarketClock(timestamp=now, is_open=self._market_hours(now))

    async def snapshot(self) -> PortfolioSnapshot:
        def read() -> PortfolioSnapshot:
            with session_scope(self._engine) as session:
                return self.snapshot_in(session, self._clock.now())

        return await asyncio.to_thread(read)

    def snapshot_in(self, session: Session, now: datetime) -> PortfolioSnapshot:
        """`snapshot` at `now` inside a caller's session (blocking: callers use a thread), so a
        view that reads more from the database needs one thread hop and one session."""
        cash = read_sim_cash(session)
        if cash is None:  # before `start` created the account
            cash = self._account_row(session).cash
        positions = []
        for row in read_sim_positions(session):
            try:
                price = self._data.get_quote(row.symbol, as_of=now).price
            except DataError:
                log.warning("no quote for %s at %s; valued at cost", row.symbol, now)
                price = row.avg_price
            positions.append(
                Position(
                    symbol=row.symbol,
                    quantity=row.quantity,
                    avg_price=row.avg_price,
                    market_price=price,
                )
            )
        return PortfolioSnapshot(as_of=now, cash=cash, positions=tuple(positions))

    # --- fills -------------------------------------------------------------------------------

    async def sync(self, as_of: datetime | None = None) -> list[Fill]:
        """Fill (or expire) pending orders from prices known at `as_of` (default: the clock)."""
        moment = as_of or self._clock.now()
        fills, events = await asyncio.to_thread(self._settle, moment)
        for event_type, order, cycle_id in events:
            await notify.order_event(self._bus, event_type, order, cycle_id=cycle_id)
        return fills

    def _settle(self, as_of: datetime) -> tuple[list[Fill], list[tuple[str, Order, int | None]]]:
        fills: list[Fill] = []
        events: list[tuple[str, Order, int | None]] = []
        with session_scope(self._engine) as session:
            for row in open_order_rows(session, self.name):
                outcome = self._fill_price(row, as_of)
                if outcome is None:
                    continue
                price, at = outcome
                if price is None:
                    row.status = OrderStatus.EXPIRED.value
                    row.reason = "limit price not reached during the session"
                    touch(row)
                    continue
                fill = self._apply_fill(session, row, price, at)
                if fill is None:
                    events.append(("order.rejected", order_from_row(row), row.cycle_id))
                else:
                    fills.append(fill)
                    events.append(("order.filled", order_from_row(row), row.cycle_id))
        return fills, events

    def _fill_price(self, row: OrderRow, as_of: datetime) -> tuple[float | None, datetime] | None:
        """(price, time) to fill at; (None, time) to expire a limit order; None to keep waiting."""
        submitted = row.submitted_at
        start = submitted.astimezone(EXCHANGE_TZ).date()
        end = as_of.astimezone(EXCHANGE_TZ).date()
        bars = pd.DataFrame()
        if start <= end:
            try:
                bars = self._data.get_bars([row.symbol], start, end, as_of=as_of)[row.symbol]
            except DataError:
                bars = pd.DataFrame()
        for stamp, bar in bars.iterrows():
            opens_at = session_open(stamp)
            if opens_at <= submitted:
                continue
            if row.order_type == OrderType.MARKET.value:
                return self._slipped(row, float(bar["open"])), opens_at
            price = self._limit_fill(row, float(bar["open"]), float(bar["low"]), float(bar["high"]))
            return price, session_close(stamp.date())
        try:
            quote = self._data.get_quote(row.symbol, as_of=as_of)
        except DataError:
            return None
        if quote.timestamp <= submitted:
            return None
        if row.order_type == OrderType.MARKET.value:
            return self._slipped(row, quote.price), quote.timestamp
        limit = row.limit_price or 0.0
        crosses = quote.price <= limit if row.side == Side.BUY.value else quote.price >= limit
        return (self._capped(row, quote.price), quote.timestamp) if crosses else None

    def _limit_fill(self, row: OrderRow, open_: float, low: float, high: float) -> float | None:
        """The fill price if the session traded through the limit, else None (it expires)."""
        limit = row.limit_price or 0.0
        if row.side == Side.BUY.value:
            return self._capped(row, min(open_, limit)) if low <= limit else None
        return self._capped(row, max(open_, limit)) if high >= limit else None

    def _slipped(self, row: OrderRow, price: float) -> float:
        factor = 1 + self._slippage if row.side == Side.BUY.value else 1 - self._slippage
        return price * factor

    def _capped(self, row: OrderRow, price: float) -> float:
        limit = row.limit_price or price
        slipped = self._slipped(row, price)
        return min(slipped, limit) if row.side == Side.BUY.value else max(slipped, limit)

    def _apply_fill(
        self, session: Session, row: OrderRow, price: float, at: datetime
    ) -> Fill | None:
        account = self._account_row(session)
        position = session.get(SimPositionRow, row.symbol)
        held = position.quantity if position else 0.0
        value = row.quantity * price
        if row.side == Side.BUY.value and value + self._commission > account.cash + 1e-9:
            row.status = OrderStatus.REJECTED.value
            row.reason = (
                f"insufficient cash at fill: needs {value + self._commission:,.2f}, "
                f"has {account.cash:,.2f}"
            )
            touch(row)
            return None
        if row.side == Side.SELL.value and row.quantity > held + 1e-9:
            row.status = OrderStatus.REJECTED.value
            row.reason = f"insufficient position at fill: holds {held:g} {row.symbol}"
            touch(row)
            return None
        if row.side == Side.BUY.value:
            account.cash -= value + self._commission
            if position is None:
                position = SimPositionRow(symbol=row.symbol, quantity=0.0, avg_price=price)
                session.add(position)
            position.avg_price = (held * position.avg_price + value) / (held + row.quantity)
            position.quantity = held + row.quantity
            touch(position)
        else:
            account.cash += value - self._commission
            assert position is not None  # checked above: held >= quantity > 0
            position.quantity = held - row.quantity
            if position.quantity <= 1e-9:
                session.delete(position)
            else:
                touch(position)
        touch(account)
        row.status = OrderStatus.FILLED.value
        row.filled_quantity = row.quantity
        row.avg_fill_price = price
        touch(row)
        fill = Fill(
            client_order_id=row.client_order_id,
            symbol=row.symbol,
            side=Side(row.side),
            quantity=row.quantity,
            price=price,
            fee=self._commission,
            timestamp=at,
        )
        add_fill(session, fill, fill_key=f"{row.quantity:g}")
        return fill
