"""The read-only views behind the bot's commands, read as plain rows (Core statements, one
session and one thread hop per command), show what the stored rows say, on both engines:
timestamps stay tz-aware, a missing row means "nothing yet", and sums match the call log."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy.engine import Engine

from orchestrator.clock import FixedClock
from orchestrator.execution import process_decision
from orchestrator.service import llm as llm_service
from orchestrator.service import trading as service
from orchestrator.service.facade import Orchestrator
from orchestrator.store.cycles import CycleRow
from orchestrator.store.db import session_scope
from orchestrator.store.llm import LLMCallRow
from orchestrator.store.trading import EquitySnapshotRow, TradingStateRow, record_equity
from orchestrator.trading.desk import session_day
from tests.trading.helpers import buy, cycle, decision, make_runtime, ny


def _call(at: datetime, task: str, prompt: int, completion: int, cost: float) -> LLMCallRow:
    return LLMCallRow(
        created_at=at,
        task=task,
        model="m",
        request_hash=f"{task}{at.timestamp()}{prompt}",
        prompt_tokens=prompt,
        completion_tokens=completion,
        cost_usd=cost,
    )


def test_cost_today_sums_todays_calls_by_task(engine: Engine) -> None:
    now = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
    with session_scope(engine) as session:
        session.add(_call(now - timedelta(hours=3), "sentiment", 100, 20, 0.25))
        session.add(_call(now - timedelta(hours=2), "decision", 1000, 200, 1.5))
        session.add(_call(now - timedelta(hours=1), "sentiment", 50, 10, 0.125))
        session.add(_call(now - timedelta(days=1), "decision", 9999, 9999, 99.0))  # yesterday
        session.add(_call(now + timedelta(days=1), "decision", 9999, 9999, 99.0))  # tomorrow
    view = llm_service.cost_today(engine=engine, now=now)
    assert view.today_calls == 3
    assert view.today_tokens == 1380
    assert view.today_cost_usd == pytest.approx(1.875)
    assert view.by_task == pytest.approx({"sentiment": 0.375, "decision": 1.5})


def test_cost_today_with_no_calls_is_zero(sqlite_engine: Engine) -> None:
    view = llm_service.cost_today(engine=sqlite_engine, now=datetime(2026, 3, 4, tzinfo=UTC))
    assert (view.today_calls, view.today_tokens, view.today_cost_usd, view.by_task) == (
        0,
        0,
        0.0,
        {},
    )


async def test_pnl_starts_at_the_last_equity_before_its_window(engine: Engine) -> None:
    clock = FixedClock(ny(5, 15))
    runtime = await make_runtime(engine, clock)
    with session_scope(engine) as session:
        for day, equity in ((2, 90_000.0), (3, 95_000.0), (4, 98_000.0)):
            record_equity(
                session, broker="sim", at=ny(day, 16), cash=equity, equity=equity, gross=0.0
            )
        # Another broker's history and a snapshot after `now` are not part of the view.
        record_equity(session, broker="alpaca", at=ny(4, 16), cash=1.0, equity=1.0, gross=0.0)
        record_equity(session, broker="sim", at=ny(5, 16), cash=1.0, equity=1.0, gross=0.0)
    view = await service.pnl(runtime, days=2)  # the window opens on 3 March at 15:00
    assert view.start_equity == 90_000.0  # 2 March's close, the last one before the window
    assert view.end_equity == 100_000.0  # the simulated account, untouched
    assert view.change == 10_000.0 and view.change_pct == pytest.approx(11.11, abs=0.01)
    assert [(p.day.day, p.equity) for p in view.points] == [
        (3, 95_000.0),
        (4, 98_000.0),
        (5, 100_000.0),
    ]
    with session_scope(engine) as session:
        taken = session.get(EquitySnapshotRow, 1)
        assert taken is not None and taken.taken_at.tzinfo is not None


async def test_risk_shows_todays_loss_from_the_day_start_equity(engine: Engine) -> None:
    clock = FixedClock(ny(3, 15))
    runtime = await make_runtime(engine, clock)
    fresh = await service.risk_view(runtime)  # creates the state row on first use
    assert fresh.day_start_equity is None and fresh.day_pl_pct is None
    with session_scope(engine) as session:
        state = session.get(TradingStateRow, 1)
        assert state is not None
        state.day_session = session_day(clock.now())
        state.day_start_equity = 125_000.0
        state.halted_session = session_day(clock.now())
        state.halt_reason = "daily loss"
    risk = await service.risk_view(runtime)
    assert risk.day_start_equity == 125_000.0
    assert risk.day_pl_pct == -20.0  # 100,000 now
    assert risk.halted_reason == "daily loss"
    clock.advance_to(ny(4, 15))  # the next session: yesterday's start and halt no longer count
    later = await service.risk_view(runtime)
    assert later.day_start_equity is None and later.halted_reason == ""


async def test_portfolio_orders_and_status_read_what_a_cycle_left(engine: Engine) -> None:
    clock = FixedClock(ny(3, 15))
    runtime = await make_runtime(engine, clock, approval_policy="confirm_all")
    record = cycle(engine, clock.now(), regime="crisis")
    with session_scope(engine) as session:
        row = session.get(CycleRow, record.cycle_id)
        assert row is not None
        row.status, row.record = "completed", record.model_dump(mode="json")
    await process_decision(runtime, decision(buy()), record, holdings={}, as_of=clock.now())
    runtime.llm = SimpleNamespace(label="offline")  # /status names the LLM; none is called
    facade = Orchestrator(runtime)

    status = await facade.status()
    assert (status.regime, status.last_cycle_status, status.pending_approvals) == (
        "crisis",
        "completed",
        1,
    )
    assert status.last_cycle_at == clock.now()
    (waiting,) = await facade.pending_approvals()
    assert waiting.symbol == "AAPL" and waiting.status == "pending"
    assert waiting.expires_at.tzinfo is not None

    await facade.approve(waiting.id, "42")
    clock.advance_to(ny(4, 16, 30))
    await runtime.broker.sync()
    (order,) = await facade.orders()
    assert (order.symbol, order.status, order.filled_quantity) == ("AAPL", "filled", 10)
    assert order.submitted_at.tzinfo is not None
    portfolio = await facade.portfolio()
    (position,) = portfolio.positions
    assert (position.symbol, position.quantity, position.market_price) == ("AAPL", 10, 200.0)
    # Filled at the 4 March open (199 + 5 bps) with a 1.00 fee.
    assert portfolio.cash == pytest.approx(100_000 - 10 * 199 * 1.0005 - 1, abs=0.01)
    (summary,) = await facade.history(n=5)
    assert summary.cycle_id == record.cycle_id


async def test_chats_asking_at_once_get_what_one_chat_alone_gets(engine: Engine) -> None:
    """Fifty chats sending the same commands together share reads (orchestrator.shared_reads):
    each still gets the whole answer, and a fill before the next burst shows in all of it."""
    clock = FixedClock(ny(3, 15))
    runtime = await make_runtime(engine, clock, approval_policy="confirm_all")
    record = cycle(engine, clock.now(), regime="calm")
    await process_decision(runtime, decision(buy()), record, holdings={}, as_of=clock.now())
    runtime.llm = SimpleNamespace(label="offline")
    facade = Orchestrator(runtime)

    async def burst() -> list[list[object]]:
        asks = [
            facade.status,
            facade.portfolio,
            facade.orders,
            facade.pending_approvals,
            lambda: facade.pnl(7),
            facade.risk_view,
            facade.performance,
            lambda: facade.history(5),
            facade.cost,
        ]
        answers = await asyncio.gather(*(ask() for ask in asks for _ in range(50)))
        return [answers[i : i + 50] for i in range(0, len(answers), 50)]

    for same in await burst():
        assert all(answer == same[0] for answer in same)
    alone = await facade.pending_approvals()
    assert [a.symbol for a in alone] == ["AAPL"]

    await facade.approve(alone[0].id, "42")
    clock.advance_to(ny(4, 16, 30))
    await runtime.broker.sync()
    status, portfolio, orders, pending = (answers[0] for answers in (await burst())[:4])
    assert status.pending_approvals == 0 and pending == []
    assert [(p.symbol, p.quantity) for p in portfolio.positions] == [("AAPL", 10)]
    assert [(o.symbol, o.status) for o in orders] == [("AAPL", "filled")]
    assert runtime.reads.waiting == 0
