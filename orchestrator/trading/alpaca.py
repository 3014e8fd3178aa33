"""`AlpacaBroker`: Alpaca paper (or, opted into twice, live) trading through alpaca-py.

Never two orders for one decision:
- The order is written to the database (status `new`, unique `client_order_id`) before it is
  sent, so a crash mid-submit leaves a record that `reconcile()` resolves at the next start.
- After a timeout, a connection error or a 5xx on submit, the order is looked up by its client
  id before anything else; only if Alpaca has no such order is it sent once more (and Alpaca
  itself refuses a duplicate client id). alpaca-py's own automatic retry of 504 is switched off
  for the same reason.
- Every request has a timeout (alpaca-py sets none) and runs in a thread (`asyncio.to_thread`).
Fills are found by polling open orders (`sync()`, or the background poller that `start()` runs
every `poll_interval_seconds` when that is above 0); each new fill is stored once and emits
`order.filled`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, QueryOrderStatus, TimeInForce
from alpaca.trading.models import Order as AlpacaOrder
from alpaca.trading.requests import GetOrdersRequest, LimitOrderRequest, MarketOrderRequest
from sqlalchemy.engine import Engine

from orchestrator.config import Settings
from orchestrator.domain import Fill, Order, OrderStatus, OrderType, PortfolioSnapshot, Position
from orchestrator.errors import ConfigError, NotFoundError, TradingError
from orchestrator.events import EventBus
from orchestrator.trading import notify
from orchestrator.trading.alpaca_store import AlpacaLedger
from orchestrator.trading.broker import Account, MarketClock, OrderRequest

log = logging.getLogger(__name__)
T = TypeVar("T")


def check_trading_mode(settings: Settings) -> bool:
    """True for live trading, False for paper; refuses a half-configured live switch.

    Live money needs both ALPACA_PAPER=false and TRADING_MODE=live; either one alone raises
    `ConfigError` saying that both are needed.
    """
    live_mode = settings.trading_mode == "live"
    if live_mode != (not settings.alpaca_paper):
        raise ConfigError(
            "Live trading needs both ALPACA_PAPER=false and TRADING_MODE=live; "
            f"got ALPACA_PAPER={str(settings.alpaca_paper).lower()} and "
            f"TRADING_MODE={settings.trading_mode}. Set both for live, or neither for paper."
        )
    return live_mode


class _TimeoutSession(requests.Session):
    """A requests session that never waits forever (alpaca-py passes no timeout)."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self._timeout)
        return super().request(*args, **kwargs)


def make_trading_client(settings: Settings) -> TradingClient:
    if settings.alpaca_api_key is None or settings.alpaca_secret_key is None:
        raise ConfigError("BROKER=alpaca needs ALPACA_API_KEY and ALPACA_SECRET_KEY")
    live = check_trading_mode(settings)
    client = TradingClient(
        api_key=settings.alpaca_api_key.get_secret_value(),
        secret_key=settings.alpaca_secret_key.get_secret_value(),
        paper=not live,
        url_override=settings.alpaca_base_url,
    )
    # alpaca-py exposes neither knob: its session has no timeout, and it retries 504 on POST,
    # which could place an order twice. 429 (rate limited, nothing done) stays retried.
    client._session = _TimeoutSession(settings.alpaca_timeout_seconds)
    client._retry_codes = [429]
    return client


def _uncertain(exc: BaseException) -> bool:
    """The request may or may not have reached Alpaca (the order may exist)."""
    if isinstance(exc, requests.Timeout | requests.ConnectionError | TimeoutError):
        return True
    return isinstance(exc, APIError) and (exc.status_code or 0) >= 500


def _api_message(exc: APIError) -> str:
    try:
        return str(exc.message)
    except (ValueError, KeyError, TypeError):
        return str(exc)[:300]


class AlpacaBroker:
    """The Alpaca broker; see the module docstring and the `Broker` contract."""

    name = "alpaca"

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        bus: EventBus | None = None,
        client: TradingClient | None = None,
        poll_interval_seconds: float = 0.0,
    ) -> None:
        self._client = client or make_trading_client(settings)
        self._poll_interval = poll_interval_seconds
        self._timeout = settings.alpaca_timeout_seconds
        self._ledger = AlpacaLedger(engine, self.name)
        self._bus = bus
        self._poller: asyncio.Task[None] | None = None

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        # The session timeout bounds each HTTP request; this bounds the whole call (retries).
        return await asyncio.wait_for(asyncio.to_thread(fn, *args), self._timeout * 4 + 5)

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        await self.reconcile()
        if self._poll_interval > 0:
            self.start_polling(self._poll_interval)

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None

    def start_polling(self, interval_seconds: float = 5.0) -> None:
        """Poll open orders for fills in the background until `close()`."""

        async def loop() -> None:
            while True:
                try:
                    await self.sync()
                except Exception:
                    log.exception("polling Alpaca orders failed; retrying")
                await asyncio.sleep(interval_seconds)

        if self._poller is None:
            self._poller = asyncio.create_task(loop())

    async def reconcile(self) -> None:
        """Bring the database in line with Alpaca: orders the DB thinks open (including ones a
        crash left unsent), orders opened elsewhere, and a snapshot of positions and equity."""
        await self._poll(include_unsent=True)
        remote_open = await self._call(
            self._client.get_orders, GetOrdersRequest(status=QueryOrderStatus.OPEN, limit=500)
        )
        await asyncio.to_thread(self._ledger.import_orders, remote_open)
        snapshot = await self.snapshot()
        await asyncio.to_thread(self._ledger.record_snapshot, snapshot)

    # --- orders ------------------------------------------------------------------------------

    async def submit_order(self, request: OrderRequest) -> Order:
        existing = await asyncio.to_thread(self._ledger.reserve, request)
        if existing is not None and existing.status != OrderStatus.NEW:
            return existing  # already sent: never a second order
        if existing is not None:
            # A previous attempt's outcome is unknown: ask Alpaca before sending anything.
            remote = await self._lookup(request.client_order_id)
            if remote is not None:
                return await self._absorb(remote)
        return await self._send(request)

    async def _send(self, request: OrderRequest) -> Order:
        try:
            remote = await self._call(self._client.submit_order, self._order_request(request))
        except APIError as exc:
            if not _uncertain(exc):
                return await self._reject(request.client_order_id, _api_message(exc))
            remote = await self._after_uncertain(request, exc)
        except (requests.RequestException, TimeoutError) as exc:
            remote = await self._after_uncertain(request, exc)
        return await self._absorb(remote)

    async def _after_uncertain(self, request: OrderRequest, exc: BaseException) -> AlpacaOrder:
        """The submit may have reached Alpaca: look the order up; resend only if it is absent."""
        log.warning("submit of %s uncertain (%s); looking it up", request.client_order_id, exc)
        try:
            remote = await self._lookup(request.client_order_id)
        except (requests.RequestException, TimeoutError, APIError) as lookup_exc:
            raise TradingError(
                f"Alpaca did not answer about order {request.client_order_id} ({lookup_exc}); "
                "it stays pending and is checked again at the next sync or restart"
            ) from lookup_exc
        if remote is not None:
            return remote
        try:
            return await self._call(self._client.submit_order, self._order_request(request))
        except (requests.RequestException, TimeoutError, APIError) as retry_exc:
            raise TradingError(
                f"Alpaca failed twice on order {request.client_order_id} ({retry_exc}); "
                "it stays pending and is checked again at the next sync or restart"
            ) from retry_exc

    async def _lookup(self, client_order_id: str) -> AlpacaOrder | None:
        try:
            return await self._call(self._client.get_order_by_client_id, client_order_id)
        except APIError as exc:
            if exc.status_code == 404:
                return None
            raise

    @staticmethod
    def _order_request(request: OrderRequest) -> MarketOrderRequest | LimitOrderRequest:
        common: dict[str, Any] = {
            "symbol": request.symbol,
            "qty": request.quantity,
            "side": OrderSide(request.side.value),
            "time_in_force": TimeInForce.DAY,
            "client_order_id": request.client_order_id,
        }
        if request.order_type == OrderType.LIMIT:
            return LimitOrderRequest(limit_price=request.limit_price, **common)
        return MarketOrderRequest(**common)

    async def _reject(self, client_order_id: str, reason: str) -> Order:
        order = await asyncio.to_thread(self._ledger.reject, client_order_id, reason)
        await notify.order_event(self._bus, "order.rejected", order, cycle_id=None)
        return order

    async def _absorb(self, remote: AlpacaOrder) -> Order:
        order, events = await asyncio.to_thread(self._ledger.absorb, remote)
        for event_type, event_order, cycle_id in events:
            await notify.order_event(self._bus, event_type, event_order, cycle_id=cycle_id)
        return order

    async def cancel_order(self, client_order_id: str) -> Order:
        remote = await self._lookup(client_order_id)
        if remote is None:
            raise NotFoundError(f"Alpaca has no order {client_order_id}")
        try:
            await self._call(self._client.cancel_order_by_id, remote.id)
        except APIError as exc:
            raise TradingError(f"Alpaca refused to cancel: {_api_message(exc)}") from exc
        refreshed = await self._lookup(client_order_id)
        return await self._absorb(refreshed or remote)

    async def get_order(self, broker_order_id: str) -> Order | None:
        try:
            remote = await self._call(self._client.get_order_by_id, broker_order_id)
        except APIError as exc:
            if exc.status_code == 404:
                return None
            raise
        return await self._absorb(remote)

    async def get_order_by_client_id(self, client_order_id: str) -> Order | None:
        remote = await self._lookup(client_order_id)
        return await self._absorb(remote) if remote is not None else None

    async def open_orders(self) -> list[Order]:
        remote = await self._call(
            self._client.get_orders, GetOrdersRequest(status=QueryOrderStatus.OPEN, limit=500)
        )
        return [await self._absorb(order) for order in remote]

    async def sync(self, as_of: datetime | None = None) -> list[Fill]:
        """Poll every order the database holds open at Alpaca and record what changed."""
        return await self._poll(include_unsent=False)

    async def _poll(self, *, include_unsent: bool) -> list[Fill]:
        # Orders still `new` may be mid-submit in this process; only at start (no submit can
        # be in flight) is a `new` order that Alpaca does not know marked as never sent.
        fills: list[Fill] = []
        open_ids = await asyncio.to_thread(self._ledger.open_client_ids, include_unsent)
        for client_order_id in open_ids:
            remote = await self._lookup(client_order_id)
            if remote is None:
                await self._reject(client_order_id, "never reached Alpaca (not found there)")
                continue
            before = await asyncio.to_thread(self._ledger.fill_count, client_order_id)
            await self._absorb(remote)
            fills.extend((await asyncio.to_thread(self._ledger.fills, client_order_id))[before:])
        return fills

    # --- account -----------------------------------------------------------------------------

    async def positions(self) -> list[Position]:
        remote = await self._call(self._client.get_all_positions)
        return [
            Position(
                symbol=p.symbol,
                quantity=float(p.qty),
                avg_price=float(p.avg_entry_price),
                market_price=float(p.current_price or p.avg_entry_price),
            )
            for p in remote
        ]

    async def account(self) -> Account:
        remote = await self._call(self._client.get_account)
        return Account(
            cash=float(remote.cash or 0),
            equity=float(remote.equity or 0),
            buying_power=float(remote.buying_power or 0),
            last_equity=float(remote.last_equity) if remote.last_equity else None,
        )

    async def clock(self) -> MarketClock:
        remote = await self._call(self._client.get_clock)
        return MarketClock(
            timestamp=remote.timestamp,
            is_open=remote.is_open,
            next_open=remote.next_open,
            next_close=remote.next_close,
        )

    async def snapshot(self) -> PortfolioSnapshot:
        account, positions = await asyncio.gather(self.account(), self.positions())
        clock = await self.clock()
        return PortfolioSnapshot(
            as_of=clock.timestamp, cash=account.cash, positions=tuple(positions)
        )
