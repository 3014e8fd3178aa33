"""The `Broker` seam: the simulated broker and Alpaca implement the same contract.

Contract (every implementation):
- `submit_order` is idempotent on `client_order_id`: if an order with that id exists (in the
  database or at the broker) it is returned and no second order is sent, ever.
- A broker's refusal (insufficient buying power, unknown asset, market closed) is not an
  exception: the order comes back with status `rejected` and the broker's reason in `reason`.
  Infrastructure failures (network, timeouts that could not be resolved, bad credentials) raise
  `TradingError` with a message saying what to check; an order whose fate is unknown stays in the
  database and is resolved by `reconcile()`.
- Every order and fill is written to the database (`order`, `fill`), and every fill emits
  `order.filled` (a later rejection `order.rejected`) on the bus.
- `sync(as_of)` brings orders up to date: the simulator fills pending orders from prices known
  at `as_of`; Alpaca polls the broker. It returns the fills it recorded.
- Methods are async; blocking work (SDK calls, database sessions, pandas) runs in a thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from orchestrator.domain import Fill, Order, OrderType, PortfolioSnapshot, Position, Side


@dataclass(frozen=True)
class OrderRequest:
    client_order_id: str
    symbol: str
    side: Side
    quantity: float
    order_type: OrderType = OrderType.MARKET
    limit_price: float | None = None
    cycle_id: int | None = None


@dataclass(frozen=True)
class Account:
    cash: float
    equity: float
    buying_power: float
    # Equity at the previous session's close when the broker knows it (Alpaca's last_equity).
    last_equity: float | None = None


@dataclass(frozen=True)
class MarketClock:
    timestamp: datetime
    is_open: bool
    next_open: datetime | None = None
    next_close: datetime | None = None


@runtime_checkable
class Broker(Protocol):
    """Places and tracks orders; see the module docstring for the failure contract."""

    name: str

    async def start(self) -> None:
        """Prepare for trading: create state, reconcile open orders and positions with the DB."""
        ...

    async def close(self) -> None:
        """Stop background work and release connections."""
        ...

    async def submit_order(self, request: OrderRequest) -> Order:
        """Place an order once per `client_order_id`; a refusal returns status `rejected`."""
        ...

    async def cancel_order(self, client_order_id: str) -> Order:
        """Cancel an open order. Raises `NotFoundError` (unknown id), `TradingError` (final)."""
        ...

    async def get_order(self, broker_order_id: str) -> Order | None: ...

    async def get_order_by_client_id(self, client_order_id: str) -> Order | None: ...

    async def open_orders(self) -> list[Order]: ...

    async def positions(self) -> list[Position]: ...

    async def account(self) -> Account: ...

    async def clock(self) -> MarketClock: ...

    async def snapshot(self) -> PortfolioSnapshot:
        """Cash and positions valued at current prices, as the risk manager sees them."""
        ...

    async def sync(self, as_of: datetime | None = None) -> list[Fill]:
        """Bring order states up to date and return the fills recorded by this call."""
        ...


@runtime_checkable
class BookInDatabase(Protocol):
    """A broker whose account lives in this database (the simulator): its snapshot is a read
    that can share a caller's session, so a view that reads more needs one thread hop."""

    def snapshot_in(self, session: Any, now: datetime) -> PortfolioSnapshot:
        """`Broker.snapshot` at `now`, read in `session` (blocking; read-only)."""
        ...
