"""AlpacaBroker through the real alpaca-py against the fake Alpaca API on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from orchestrator.config import Settings, load_settings
from orchestrator.domain import OrderStatus, Side
from orchestrator.errors import ConfigError
from orchestrator.events import Event, InProcessBus
from orchestrator.store.db import session_scope
from orchestrator.store.trading import EquitySnapshotRow, fills_for, get_order_row
from orchestrator.trading.alpaca import AlpacaBroker, check_trading_mode, make_trading_client
from orchestrator.trading.alpaca_store import AlpacaLedger
from orchestrator.trading.broker import OrderRequest
from tests.fakes.alpaca_server import API_KEY, SECRET_KEY, FakeAlpaca


@pytest.fixture
def fake() -> Iterator[FakeAlpaca]:
    server = FakeAlpaca(cash=50_000).start()
    yield server
    server.stop()


def settings_for(fake: FakeAlpaca, **extra: object) -> Settings:
    return load_settings(
        broker="alpaca",
        alpaca_api_key=API_KEY,
        alpaca_secret_key=SECRET_KEY,
        alpaca_base_url=fake.url,
        alpaca_timeout_seconds=0.5,
        **extra,
    )


def request(coid: str = "fg-x-c1-AAPL-buy", quantity: float = 5) -> OrderRequest:
    return OrderRequest(client_order_id=coid, symbol="AAPL", side=Side.BUY, quantity=quantity)


class Recorder:
    def __init__(self, bus: InProcessBus) -> None:
        self.events: list[Event] = []
        bus.subscribe("*", self.record)

    async def record(self, event: Event) -> None:
        self.events.append(event)

    def types(self) -> list[str]:
        return [event.type for event in self.events]


async def test_submit_then_fill_updates_the_database_and_emits_events(
    fake: FakeAlpaca, sqlite_engine: Engine
) -> None:
    bus = InProcessBus()
    recorder = Recorder(bus)
    broker = AlpacaBroker(sqlite_engine, settings_for(fake), bus=bus)
    await broker.start()
    order = await broker.submit_order(request())
    assert order.status == OrderStatus.SUBMITTED and order.broker_order_id

    fake.fill("fg-x-c1-AAPL-buy", 150.0, quantity=2)
    (first,) = await broker.sync()
    fake.fill("fg-x-c1-AAPL-buy", 152.0)
    (second,) = await broker.sync()
    assert await broker.sync() == []  # nothing new: nothing recorded twice
    await bus.drain()

    assert (first.quantity, first.price) == (2, 150.0)
    assert (second.quantity, second.price) == pytest.approx((3, 152.0))
    stored = await broker.get_order_by_client_id("fg-x-c1-AAPL-buy")
    assert stored.status == OrderStatus.FILLED and stored.filled_quantity == 5
    assert recorder.types() == ["order.submitted", "order.filled", "order.filled"]
    (position,) = await broker.positions()
    assert (position.symbol, position.quantity) == ("AAPL", 5)
    await broker.close()


async def test_a_reply_that_times_out_never_makes_a_second_order(
    fake: FakeAlpaca, sqlite_engine: Engine
) -> None:
    broker = AlpacaBroker(sqlite_engine, settings_for(fake))
    fake.hold_next_submit_reply_seconds = 1.5  # three times the client's timeout
    order = await broker.submit_order(request())
    again = await broker.submit_order(request())  # the same decision once more

    assert len(fake.orders) == 1
    assert fake.submit_requests == 1
    assert order.status == OrderStatus.SUBMITTED
    assert again.broker_order_id == order.broker_order_id


async def test_a_5xx_before_the_order_exists_is_resent_once(
    fake: FakeAlpaca, sqlite_engine: Engine
) -> None:
    broker = AlpacaBroker(sqlite_engine, settings_for(fake))
    fake.fail_next_submit_status = 500
    order = await broker.submit_order(request())
    assert order.status == OrderStatus.SUBMITTED
    assert len(fake.orders) == 1
    assert fake.submit_requests == 2  # looked up (absent), then sent once more


async def test_a_refusal_is_a_rejected_order_with_the_brokers_reason(
    fake: FakeAlpaca, sqlite_engine: Engine
) -> None:
    bus = InProcessBus()
    recorder = Recorder(bus)
    broker = AlpacaBroker(sqlite_engine, settings_for(fake), bus=bus)
    fake.reject_next_submit = (403, "insufficient buying power")
    order = await broker.submit_order(request(quantity=10_000))
    await bus.drain()
    assert order.status == OrderStatus.REJECTED
    assert order.reason == "insufficient buying power"
    (event,) = recorder.events
    assert event.type == "order.rejected"
    assert event.payload["reason"] == "insufficient buying power"
    assert fake.orders == {}


async def test_restart_reconciles_open_orders_and_positions(
    fake: FakeAlpaca, engine: Engine
) -> None:
    settings = settings_for(fake)
    first = AlpacaBroker(engine, settings)
    await first.submit_order(request("filled-while-down"))
    # A crash after sending: the database says "new", Alpaca has the order.
    ledger = AlpacaLedger(engine, "alpaca")
    ledger.reserve(request("sent-then-crashed"))
    fake.add_order(
        client_order_id="sent-then-crashed", symbol="AAPL", qty=5, side="buy", type="market"
    )
    # A crash before sending: the database says "new", Alpaca never saw it.
    ledger.reserve(request("never-sent"))
    # An order placed on Alpaca's web site.
    fake.add_order(client_order_id="from-the-web", symbol="MSFT", qty=1, side="buy", type="market")
    fake.fill("filled-while-down", 151.0)

    restarted = AlpacaBroker(engine, settings)
    await restarted.start()

    with session_scope(engine) as session:
        assert get_order_row(session, "filled-while-down").status == "filled"
        assert len(fills_for(session, "filled-while-down")) == 1
        assert get_order_row(session, "sent-then-crashed").status == "submitted"
        never = get_order_row(session, "never-sent")
        assert never.status == "rejected" and "never reached" in never.reason
        assert get_order_row(session, "from-the-web").status == "submitted"
        equity = session.exec(select(EquitySnapshotRow)).one()
        assert equity.cash == pytest.approx(50_000 - 5 * 151.0)
    assert fake.submit_requests == 1  # reconciliation never sends an order


def test_live_trading_needs_both_settings(fake: FakeAlpaca) -> None:
    with pytest.raises(ConfigError, match="both ALPACA_PAPER=false and TRADING_MODE=live"):
        make_trading_client(settings_for(fake, alpaca_paper=False))
    with pytest.raises(ConfigError, match="both ALPACA_PAPER=false and TRADING_MODE=live"):
        make_trading_client(settings_for(fake, trading_mode="live"))
    assert check_trading_mode(settings_for(fake)) is False
    assert check_trading_mode(settings_for(fake, alpaca_paper=False, trading_mode="live"))


def test_missing_keys_are_a_clear_config_error() -> None:
    with pytest.raises(ConfigError, match="ALPACA_API_KEY"):
        make_trading_client(load_settings(broker="alpaca"))
