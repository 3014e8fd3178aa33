"""The cycle's execution and approvals through AlpacaBroker: real alpaca-py, fake Alpaca API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from orchestrator.clock import FixedClock
from orchestrator.config import load_settings
from orchestrator.errors import ConfigError
from orchestrator.events import InProcessBus
from orchestrator.execution import process_decision
from orchestrator.service import trading as service
from orchestrator.store.db import session_scope
from orchestrator.store.trading import fills_for, get_order_row
from orchestrator.trading import build_broker
from orchestrator.trading.alpaca import AlpacaBroker
from orchestrator.trading.sim import SimBroker
from tests.fakes.alpaca_server import API_KEY, SECRET_KEY, FakeAlpaca
from tests.trading.helpers import DATA, buy, cycle, decision, make_runtime, ny


@pytest.fixture
def fake() -> Iterator[FakeAlpaca]:
    server = FakeAlpaca(cash=100_000).start()
    yield server
    server.stop()


def alpaca(fake: FakeAlpaca, **extra: Any) -> dict[str, Any]:
    return {
        "broker": "alpaca",
        "alpaca_api_key": API_KEY,
        "alpaca_secret_key": SECRET_KEY,
        "alpaca_base_url": fake.url,
        "alpaca_timeout_seconds": 0.5,
        "alpaca_poll_seconds": 0,
        **extra,
    }


async def test_a_timed_out_submit_and_a_rerun_leave_one_order_then_restart_reconciles(
    fake: FakeAlpaca, engine: Engine
) -> None:
    clock = FixedClock(ny(3, 15))
    runtime = await make_runtime(engine, clock, **alpaca(fake))
    record = cycle(engine, clock.now())
    fake.hold_next_submit_reply_seconds = 1.5  # accepted, but the reply outlives the timeout
    (first,) = await process_decision(
        runtime, decision(buy(quantity=10)), record, holdings={}, as_of=clock.now()
    )
    (rerun,) = await process_decision(
        runtime, decision(buy(quantity=10)), record, holdings={}, as_of=clock.now()
    )
    assert first.order_status == "submitted" and rerun.order_id == first.order_id
    assert len(fake.orders) == 1 and fake.submit_requests == 1
    await runtime.close()

    fake.fill(first.order_id, 100.5)  # filled while the process was down
    restarted = await make_runtime(engine, clock, **alpaca(fake))
    with session_scope(engine) as session:
        assert get_order_row(session, first.order_id).status == "filled"
        assert len(fills_for(session, first.order_id)) == 1
    (position,) = (await service.portfolio(restarted)).positions
    assert (position.symbol, position.quantity) == ("AAPL", 10)
    assert fake.submit_requests == 1
    await restarted.close()


async def test_an_approved_trade_is_placed_at_alpaca_and_a_refusal_is_reported(
    fake: FakeAlpaca, sqlite_engine: Engine
) -> None:
    clock = FixedClock(ny(3, 15))
    runtime = await make_runtime(
        sqlite_engine, clock, **alpaca(fake, approval_policy="confirm_all")
    )
    record = cycle(sqlite_engine, clock.now(), candidates=("AAPL", "MSFT"))
    ok, refused = await process_decision(
        runtime,
        decision(buy("AAPL", quantity=10), buy("MSFT", quantity=10)),
        record,
        holdings={},
        as_of=clock.now(),
    )
    outcome = await service.approve(runtime, ok.approval_id, user="42")
    assert outcome.approval.status == "executed"
    assert fake.by_client_id(outcome.order.client_order_id)["qty"] == "10.0"

    fake.reject_next_submit = (403, "insufficient buying power")
    outcome = await service.approve(runtime, refused.approval_id, user="42")
    assert outcome.approval.status == "failed"
    assert "insufficient buying power" in outcome.message
    assert len(fake.orders) == 1
    await runtime.close()


def test_build_broker_picks_the_broker_and_refuses_half_set_live(
    fake: FakeAlpaca, sqlite_engine: Engine
) -> None:
    clock = FixedClock(ny(3, 15))
    bus = InProcessBus()

    def build(**values: Any):
        return build_broker(load_settings(**values), sqlite_engine, DATA, bus=bus, clock=clock)

    assert isinstance(build(), SimBroker)
    assert isinstance(build(**alpaca(fake)), AlpacaBroker)
    assert isinstance(build(**alpaca(fake, alpaca_paper=False, trading_mode="live")), AlpacaBroker)
    for half in ({"alpaca_paper": False}, {"trading_mode": "live"}):
        with pytest.raises(ConfigError, match="ALPACA_PAPER=false and TRADING_MODE=live"):
            build(**alpaca(fake, **half))
    with pytest.raises(ConfigError, match="TRADING_MODE=live needs BROKER=alpaca"):
        build(trading_mode="live")


async def test_the_background_poller_records_fills(fake: FakeAlpaca, sqlite_engine: Engine) -> None:
    import asyncio

    runtime = await make_runtime(
        sqlite_engine, FixedClock(ny(3, 15)), **alpaca(fake, alpaca_poll_seconds=0.05)
    )
    filled: list[str] = []

    async def on_fill(event) -> None:
        filled.append(event.payload["client_order_id"])

    runtime.bus.subscribe("order.filled", on_fill)
    from orchestrator.domain import Side
    from orchestrator.trading.broker import OrderRequest

    await runtime.broker.submit_order(OrderRequest("poll-1", "AAPL", Side.BUY, 3))
    fake.fill("poll-1", 101.0)
    for _ in range(100):
        if filled:
            break
        await asyncio.sleep(0.05)
    assert filled == ["poll-1"]
    await runtime.close()
