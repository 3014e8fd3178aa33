"""The trading service: approvals (re-checked, sent once, never after expiry), switches, views."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from orchestrator.clock import FixedClock
from orchestrator.errors import NotFoundError, TradingError
from orchestrator.execution import process_decision
from orchestrator.service import trading as service
from orchestrator.store.db import session_scope
from orchestrator.store.trading import OrderRow
from tests.trading.helpers import Recorder, buy, cycle, decision, make_runtime, ny


def orders_in(engine: Engine) -> list[OrderRow]:
    with session_scope(engine) as session:
        return list(session.exec(select(OrderRow)))


async def pending(engine: Engine, clock: FixedClock, quantity: float = 40, **settings):
    settings = {"approval_policy": "confirm_all", "trading_hours_only": False, **settings}
    runtime = await make_runtime(engine, clock, **settings)
    (result,) = await process_decision(
        runtime,
        decision(buy(quantity=quantity)),
        cycle(engine, clock.now()),
        holdings={},
        as_of=clock.now(),
    )
    assert result.approval_status == "pending"
    return runtime, result.approval_id


async def test_approval_rechecks_risk_at_the_refreshed_price_and_sends_once(
    engine: Engine,
) -> None:
    clock = FixedClock(ny(3, 17))  # AAPL last closed at 101
    runtime, approval_id = await pending(engine, clock, approval_timeout=24 * 60)
    recorder = Recorder(runtime.bus)
    clock.advance_to(ny(4, 16, 30))  # AAPL closed at 200: 40 shares are now 8,000
    outcome = await service.approve(runtime, approval_id.lower(), user="42")
    await runtime.bus.drain()

    assert outcome.approval.status == "executed"
    assert outcome.order is not None and outcome.order.quantity == 25  # 5,000 / 200
    assert "resized from 40" in outcome.message and "max_order_notional" in outcome.message
    with pytest.raises(TradingError, match="already executed by 42"):
        await service.approve(runtime, approval_id, user="43")
    assert [o.quantity for o in orders_in(engine)] == [25]
    (resolved,) = recorder.of("approval.resolved")
    assert (resolved["approval_id"], resolved["outcome"], resolved["user_id"]) == (
        approval_id,
        "executed",
        42,
    )
    assert [v["status"] for v in recorder.of("risk.verdict")] == ["resized"]


async def test_an_expired_approval_is_never_executed(engine: Engine) -> None:
    clock = FixedClock(ny(3, 15))
    runtime, first = await pending(engine, clock, approval_timeout=30)
    clock.advance_to(ny(3, 15, 31))
    with pytest.raises(TradingError, match="expired at .* not executed"):
        await service.approve(runtime, first, user="42")

    clock.advance_to(ny(3, 16))
    _, second = await pending(engine, clock, approval_timeout=30)
    clock.advance_to(ny(3, 16, 45))
    recorder = Recorder(runtime.bus)
    (expired,) = await service.expire_due(runtime)
    await runtime.bus.drain()
    assert (expired.id, expired.status) == (second, "expired")
    assert recorder.of("approval.expired")[0]["approval_id"] == second
    with pytest.raises(TradingError, match="already expired"):
        await service.approve(runtime, second, user="42")
    assert await service.pending_approvals(runtime) == []
    assert orders_in(engine) == []


async def test_unknown_and_malformed_ids_are_clear_errors(sqlite_engine: Engine) -> None:
    runtime = await make_runtime(sqlite_engine, FixedClock(ny(3, 15)))
    with pytest.raises(NotFoundError, match="No approval ZZZZZZ"):
        await service.approve(runtime, "zzzzzz", user="42")
    with pytest.raises(NotFoundError, match="not an approval id"):
        await service.reject(runtime, "12; drop table", user="42")


async def test_reject_sends_nothing_and_cannot_be_undone(engine: Engine) -> None:
    clock = FixedClock(ny(3, 15))
    runtime, approval_id = await pending(engine, clock)
    outcome = await service.reject(runtime, approval_id, user="42")
    assert outcome.approval.status == "rejected" and "nothing sent" in outcome.message
    with pytest.raises(TradingError, match="already rejected"):
        await service.approve(runtime, approval_id, user="42")
    assert orders_in(engine) == []


async def test_kill_switch_and_pause_stop_an_approval(engine: Engine) -> None:
    clock = FixedClock(ny(3, 15))
    runtime, approval_id = await pending(engine, clock, quantity=10)
    recorder = Recorder(runtime.bus)

    await service.pause(runtime, user="42")
    with pytest.raises(TradingError, match="paused"):
        await service.approve(runtime, approval_id, user="42")
    assert [a.id for a in await service.pending_approvals(runtime)] == [approval_id]
    await service.resume(runtime, user="42")

    state = await service.set_kill_switch(runtime, True, user="42")
    assert state.kill_switch
    outcome = await service.approve(runtime, approval_id, user="42")
    await runtime.bus.drain()
    assert outcome.approval.status == "failed" and "kill switch" in outcome.message
    assert outcome.order is None and orders_in(engine) == []
    assert recorder.of("killswitch.changed")[0]["active"] is True


async def test_a_pending_approval_survives_a_restart_and_fills_after_it(engine: Engine) -> None:
    clock = FixedClock(ny(3, 15))
    _, approval_id = await pending(engine, clock, quantity=10)

    restarted = await make_runtime(engine, clock, approval_policy="confirm_all")
    outcome = await service.approve(restarted, approval_id, user="42")
    assert outcome.order is not None and outcome.order.status == "submitted"
    clock.advance_to(ny(4, 16, 30))
    (fill,) = await restarted.broker.sync()
    assert fill.price == pytest.approx(199.0 * 1.0005)  # the next open, 5 bps slippage

    again = await make_runtime(engine, clock)
    view = await service.portfolio(again)
    (position,) = view.positions
    assert (position.symbol, position.quantity, position.market_price) == ("AAPL", 10, 200.0)
    assert view.cash == pytest.approx(100_000 - 10 * 199.0 * 1.0005 - 1.0)
    (order,) = await service.orders(again)
    assert (order.status, order.filled_quantity) == ("filled", 10)


async def test_pnl_and_risk_views(sqlite_engine: Engine) -> None:
    clock = FixedClock(ny(3, 15))
    runtime = await make_runtime(sqlite_engine, clock, regime_exposure_scale="crisis:0.3")
    await process_decision(
        runtime, decision(buy()), cycle(sqlite_engine, clock.now()), holdings={}, as_of=clock.now()
    )
    clock.advance_to(ny(4, 16, 30))
    await runtime.broker.sync()
    view = await service.pnl(runtime, days=7)
    assert view.start_equity == 100_000.0
    # Bought 10 at the 4 March open (199 + 5 bps) and 1.00 fee, now worth 200 each.
    assert view.change == pytest.approx(10 * (200 - 199 * 1.0005) - 1, abs=0.01)
    assert [p.day.day for p in view.points] == [3, 4]

    risk = await service.risk_view(runtime)
    assert risk.limits["MAX_ORDER_NOTIONAL"] == "5,000"
    assert risk.regime_scale == {"crisis": 0.3}
    assert risk.approval_policy == "auto"
    assert not risk.kill_switch


async def test_trading_state_reports_the_switches(sqlite_engine: Engine) -> None:
    runtime = await make_runtime(sqlite_engine, FixedClock(ny(3, 15)))
    await service.set_kill_switch(runtime, True, user="7")
    state = service.trading_state(runtime)
    assert state.kill_switch and not state.paused and state.updated_by == "7"


async def test_two_admins_pressing_approve_at_once_send_one_order(engine: Engine) -> None:
    import asyncio

    clock = FixedClock(ny(3, 15))
    runtime, approval_id = await pending(engine, clock, quantity=10)
    results = await asyncio.gather(
        service.approve(runtime, approval_id, user="1"),
        service.approve(runtime, approval_id, user="2"),
        return_exceptions=True,
    )
    outcomes = [r for r in results if not isinstance(r, BaseException)]
    refusals = [r for r in results if isinstance(r, TradingError)]
    assert len(outcomes) == 1 and len(refusals) == 1
    assert len(orders_in(engine)) == 1


def test_an_approval_cannot_be_claimed_after_its_expiry(sqlite_engine: Engine) -> None:
    from orchestrator.store.trading import ApprovalRow, claim_approval

    with session_scope(sqlite_engine) as session:
        session.add(
            ApprovalRow(
                id="K7Q2MX",
                symbol="AAPL",
                side="buy",
                quantity=1,
                price=100.0,
                notional=100.0,
                expires_at=ny(3, 15),
            )
        )
    with session_scope(sqlite_engine) as session:
        late = claim_approval(session, "K7Q2MX", "approved", by="1", at=ny(3, 15), unexpired=True)
        assert late is False
        assert claim_approval(session, "K7Q2MX", "expired", by="timeout", at=ny(3, 15))


async def test_an_approval_is_rechecked_under_its_cycles_market_regime(engine: Engine) -> None:
    from orchestrator.store.cycles import finish_cycle

    clock = FixedClock(ny(3, 15))
    runtime = await make_runtime(
        engine,
        clock,
        approval_policy="confirm_all",
        regime_exposure_scale="crisis:0.3",
        max_order_notional=50_000.0,
    )
    record = cycle(engine, clock.now())  # no regime known when the proposal was checked
    (result,) = await process_decision(
        runtime, decision(buy(quantity=90)), record, holdings={}, as_of=clock.now()
    )
    assert result.verdict == "approved" and result.verdict_quantity == 90
    with session_scope(engine) as session:  # the cycle's stored record names the regime
        finish_cycle(
            session, record.cycle_id, status="completed", error="", record={"regime": "crisis"}
        )
    outcome = await service.approve(runtime, result.approval_id, user="42")
    assert outcome.order is not None and outcome.order.quantity == 30  # 3% of 100,000 at 100
    assert "regime crisis" in outcome.message


async def test_status_counts_what_pending_lists(engine: Engine) -> None:
    from types import SimpleNamespace

    from orchestrator.service.facade import Orchestrator

    clock = FixedClock(ny(3, 17))
    runtime, approval_id = await pending(engine, clock)
    runtime.llm = SimpleNamespace(label="offline")  # /status names the LLM; none is called
    facade = Orchestrator(runtime)

    status = await facade.status()
    listed = await facade.pending_approvals()
    assert status.pending_approvals == len(listed) == 1
    assert [a.id for a in listed] == [approval_id]
    assert status.last_cycle_status and status.last_cycle_at is not None
    performance = await facade.performance()
    assert performance.trades == 0 and performance.total_return_pct == 0.0
    await service.reject(runtime, approval_id, user="42")
    assert (await facade.status()).pending_approvals == 0
