"""`AlpacaLedger`: the database side of `AlpacaBroker` (blocking; called through a thread).

It records the intent before a submit, folds Alpaca's view of an order into the `order` row,
derives fills from the growth of `filled_qty` (each stored once, keyed by the cumulative
quantity) and says which events that change deserves.
"""

from __future__ import annotations

from datetime import datetime

from alpaca.trading.models import Order as AlpacaOrder
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from orchestrator.domain import Fill, Order, OrderStatus, PortfolioSnapshot, Side
from orchestrator.store.base import utcnow
from orchestrator.store.db import session_scope
from orchestrator.store.trading import (
    FINAL_ORDER_STATUSES,
    EquitySnapshotRow,
    OrderRow,
    PositionSnapshotRow,
    add_fill,
    fills_for,
    get_order_row,
    open_order_rows,
    order_from_row,
    touch,
)
from orchestrator.trading.broker import OrderRequest

OrderEvents = list[tuple[str, Order, int | None]]

# Alpaca's many states folded into ours; anything waiting at the broker is "submitted".
_STATUS = {
    "partially_filled": OrderStatus.PARTIALLY_FILLED,
    "filled": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "done_for_day": OrderStatus.CANCELED,
    "replaced": OrderStatus.CANCELED,
    "stopped": OrderStatus.CANCELED,
    "suspended": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
}


def map_status(remote_status: str) -> OrderStatus:
    return _STATUS.get(remote_status, OrderStatus.SUBMITTED)


def _value(enum_or_str: object) -> str:
    return str(getattr(enum_or_str, "value", enum_or_str))


class AlpacaLedger:
    def __init__(self, engine: Engine, broker: str) -> None:
        self._engine = engine
        self._broker = broker

    def reserve(self, request: OrderRequest) -> Order | None:
        """Record the order before sending it; the existing order if the id is taken."""
        try:
            with session_scope(self._engine) as session:
                existing = get_order_row(session, request.client_order_id)
                if existing is not None:
                    return order_from_row(existing)
                session.add(
                    OrderRow(
                        client_order_id=request.client_order_id,
                        broker=self._broker,
                        cycle_id=request.cycle_id,
                        symbol=request.symbol,
                        side=request.side.value,
                        quantity=request.quantity,
                        order_type=request.order_type.value,
                        limit_price=request.limit_price,
                        status=OrderStatus.NEW.value,
                    )
                )
            return None
        except IntegrityError:
            with session_scope(self._engine) as session:
                row = get_order_row(session, request.client_order_id)
                if row is None:
                    raise
                return order_from_row(row)

    def reject(self, client_order_id: str, reason: str) -> Order:
        with session_scope(self._engine) as session:
            row = get_order_row(session, client_order_id)
            if row is None:
                raise KeyError(client_order_id)
            row.status = OrderStatus.REJECTED.value
            row.reason = reason
            touch(row)
            return order_from_row(row)

    def absorb(self, remote: AlpacaOrder) -> tuple[Order, OrderEvents]:
        """Fold Alpaca's order into the database; returns it and the events the change deserves."""
        events: OrderEvents = []
        with session_scope(self._engine) as session:
            row = get_order_row(session, remote.client_order_id)
            if row is None:  # placed elsewhere (web UI, another tool): tracked from now on
                row = OrderRow(
                    client_order_id=remote.client_order_id,
                    broker=self._broker,
                    symbol=remote.symbol or "",
                    side=_value(remote.side),
                    quantity=float(remote.qty or 0),
                    order_type=_value(remote.type or remote.order_type or "market"),
                    limit_price=float(remote.limit_price) if remote.limit_price else None,
                    status=OrderStatus.NEW.value,
                    reason="placed outside FinGPT",
                )
                session.add(row)
            before_status = OrderStatus(row.status)
            status = map_status(_value(remote.status))
            row.broker_order_id = str(remote.id)
            row.status = status.value
            if remote.submitted_at:
                row.submitted_at = remote.submitted_at
            fill = self._new_fill(row, remote)
            if fill is not None:
                add_fill(session, fill, fill_key=f"{float(remote.filled_qty or 0):g}")
                row.filled_quantity = float(remote.filled_qty or 0)
                row.avg_fill_price = float(remote.filled_avg_price or 0) or None
            touch(row)
            session.flush()
            order = order_from_row(row)
            if before_status == OrderStatus.NEW and status not in FINAL_ORDER_STATUSES:
                events.append(("order.submitted", order, row.cycle_id))
            if fill is not None:
                events.append(("order.filled", order, row.cycle_id))
            if status == OrderStatus.REJECTED and before_status != OrderStatus.REJECTED:
                events.append(("order.rejected", order, row.cycle_id))
        return order, events

    @staticmethod
    def _new_fill(row: OrderRow, remote: AlpacaOrder) -> Fill | None:
        filled = float(remote.filled_qty or 0)
        if filled <= row.filled_quantity + 1e-9 or not remote.filled_avg_price:
            return None
        added = filled - row.filled_quantity
        total_cost = float(remote.filled_avg_price) * filled
        earlier_cost = (row.avg_fill_price or 0.0) * row.filled_quantity
        at: datetime = remote.filled_at or remote.updated_at or utcnow()
        return Fill(
            client_order_id=row.client_order_id,
            symbol=row.symbol,
            side=Side(row.side),
            quantity=added,
            price=(total_cost - earlier_cost) / added,
            timestamp=at,
        )

    def import_orders(self, remote_orders: list[AlpacaOrder]) -> None:
        for remote in remote_orders:
            self.absorb(remote)

    def record_snapshot(self, snapshot: PortfolioSnapshot) -> None:
        with session_scope(self._engine) as session:
            for position in snapshot.positions:
                session.add(
                    PositionSnapshotRow(
                        taken_at=snapshot.as_of,
                        broker=self._broker,
                        symbol=position.symbol,
                        quantity=position.quantity,
                        avg_price=position.avg_price,
                        market_price=position.market_price,
                    )
                )
            session.add(
                EquitySnapshotRow(
                    taken_at=snapshot.as_of,
                    broker=self._broker,
                    cash=snapshot.cash,
                    equity=snapshot.equity,
                    gross_exposure=snapshot.gross_exposure,
                )
            )

    def open_client_ids(self, include_unsent: bool) -> list[str]:
        with session_scope(self._engine) as session:
            return [
                row.client_order_id
                for row in open_order_rows(session, self._broker)
                if include_unsent or row.status != OrderStatus.NEW.value
            ]

    def fill_count(self, client_order_id: str) -> int:
        with session_scope(self._engine) as session:
            return len(fills_for(session, client_order_id))

    def fills(self, client_order_id: str) -> list[Fill]:
        with session_scope(self._engine) as session:
            return fills_for(session, client_order_id)
