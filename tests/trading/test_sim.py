from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy.engine import Engine

from orchestrator.clock import FixedClock
from orchestrator.domain import EXCHANGE_TZ, OrderStatus, OrderType, Side
from orchestrator.events import InProcessBus
from orchestrator.store.db import session_scope
from orchestrator.store.trading import fills_for
from orchestrator.trading.broker import OrderRequest
from orchestrator.trading.sim import SimBroker
from tests.trading.market import FrameMarketData, bars


def ny(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2015, 3, day, hour, minute, tzinfo=EXCHANGE_TZ)


DATA = FrameMarketData(
    {
        "AAPL": bars(
            {
                "2015-03-02": (100.0, 101.0, 99.0, 100.5),
                "2015-03-03": (102.0, 103.0, 101.0, 102.5),
                "2015-03-04": (98.0, 99.0, 95.0, 96.0),
            }
        )
    }
)


def sim(engine: Engine, clock: FixedClock, bus: InProcessBus | None = None) -> SimBroker:
    return SimBroker(
        engine,
        DATA,
        clock=clock,
        bus=bus,
        slippage_bps=5.0,
        commission_per_order=1.0,
        starting_cash=10_000.0,
    )


def order(side: Side = Side.BUY, quantity: float = 10, coid: str = "c1", **extra) -> OrderRequest:
    return OrderRequest(client_order_id=coid, symbol="AAPL", side=side, quantity=quantity, **extra)


async def test_market_order_fills_at_next_open_with_slippage_and_fee_and_survives_restart(
    engine: Engine,
) -> None:
    clock = FixedClock(ny(2, 16, 30))
    bus = InProcessBus()
    filled: list[str] = []

    async def on_fill(event) -> None:
        filled.append(event.payload["client_order_id"])

    bus.subscribe("order.filled", on_fill)
    broker = sim(engine, clock, bus)
    await broker.start()
    placed = await broker.submit_order(order())
    assert placed.status == OrderStatus.SUBMITTED

    assert await broker.sync(ny(2, 17)) == []  # no price after the order yet
    clock.advance_to(ny(3, 16, 30))
    (fill,) = await broker.sync()
    await bus.drain()

    assert fill.price == pytest.approx(102.0 * 1.0005)  # 3 March open + 5 bps
    assert fill.fee == 1.0
    assert filled == ["c1"]
    restarted = sim(engine, clock)  # a new broker object on the same database
    account = await restarted.account()
    assert account.cash == pytest.approx(10_000 - 10 * 102.051 - 1.0)
    (position,) = await restarted.positions()
    assert (position.symbol, position.quantity) == ("AAPL", 10)
    assert position.avg_price == pytest.approx(102.051)
    assert position.market_price == 102.5  # valued at the last known close
    assert (await restarted.get_order_by_client_id("c1")).status == OrderStatus.FILLED
    with session_scope(engine) as session:
        assert len(fills_for(session, "c1")) == 1

    clock.advance_to(ny(4, 17))
    await restarted.submit_order(order(Side.SELL, 10, coid="c2"))
    clock.advance_to(ny(5, 17))
    assert await restarted.sync() == []  # no bar after 4 March yet
    assert (await restarted.open_orders())[0].client_order_id == "c2"


async def test_intraday_order_fills_at_the_next_quote(sqlite_engine: Engine) -> None:
    clock = FixedClock(ny(3, 10))
    broker = sim(sqlite_engine, clock)
    await broker.submit_order(order())
    clock.advance_to(ny(3, 16, 5))
    (fill,) = await broker.sync()
    # The 3 March bar opened before the order, so the next price is that day's close.
    assert fill.price == pytest.approx(102.5 * 1.0005)


async def test_limit_orders_fill_only_when_the_price_trades_through(sqlite_engine: Engine) -> None:
    clock = FixedClock(ny(3, 17))
    broker = sim(sqlite_engine, clock)
    await broker.submit_order(order(coid="low", order_type=OrderType.LIMIT, limit_price=97.0))
    await broker.submit_order(order(coid="high", order_type=OrderType.LIMIT, limit_price=94.0))
    clock.advance_to(ny(4, 17))
    (fill,) = await broker.sync()
    assert (fill.client_order_id, fill.price) == ("low", 97.0)  # never worse than the limit
    assert (await broker.get_order_by_client_id("high")).status == OrderStatus.EXPIRED


async def test_refusals_are_rejections_with_the_reason(sqlite_engine: Engine) -> None:
    broker = sim(sqlite_engine, FixedClock(ny(3, 17)))
    too_big = await broker.submit_order(order(quantity=1_000, coid="big"))
    assert too_big.status == OrderStatus.REJECTED
    assert "insufficient buying power" in too_big.reason
    short = await broker.submit_order(order(Side.SELL, 5, coid="short"))
    assert short.status == OrderStatus.REJECTED
    assert "does not short" in short.reason


async def test_the_same_client_order_id_makes_one_order(sqlite_engine: Engine) -> None:
    broker = sim(sqlite_engine, FixedClock(ny(3, 17)))
    first = await broker.submit_order(order(coid="same"))
    again = await broker.submit_order(order(quantity=3, coid="same"))
    assert again.broker_order_id == first.broker_order_id
    assert again.quantity == 10
    assert len(await broker.open_orders()) == 1
