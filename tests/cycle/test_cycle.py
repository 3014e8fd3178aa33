"""`run_cycle` end to end on the bundled sample with SimBroker."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from orchestrator.cycle import SlotAlreadyRun, run_cycle
from orchestrator.cycle_record import STEPS
from orchestrator.data.offline import OfflineMarketData
from orchestrator.errors import ProviderError
from orchestrator.events import Event
from orchestrator.store import cycles as cycle_store
from orchestrator.store import feedback as feedback_store
from orchestrator.store.db import session_scope
from orchestrator.store.trading import recent_orders
from tests.cycle.conftest import sample_settings


async def test_a_cycle_selects_analyses_decides_and_trades_within_the_limits(make_runtime) -> None:
    runtime = await make_runtime()
    events: list[Event] = []

    async def keep(event: Event) -> None:
        events.append(event)

    runtime.bus.subscribe("*", keep)
    record = await run_cycle(runtime, runtime.clock.now(), slot="test:1", mode="demo")
    await runtime.bus.drain()

    assert record.status == "completed", record.error
    assert 1 <= len(record.candidates) <= 4
    analysed = [c for c in record.candidates if c.signals]
    assert analysed and all(-1 <= v <= 1 for c in analysed for v in c.signals.values())
    assert set(record.timings) == set(STEPS)
    assert record.regime in ("risk_on", "neutral", "risk_off", "crisis")
    # Every proposal has gone through the risk manager; approved ones were sent as orders.
    assert any(p.order_id for p in record.proposals), record.proposals
    for proposal in record.proposals:
        assert proposal.verdict in ("approved", "resized", "blocked") or proposal.dropped_reason
        if proposal.verdict in ("approved", "resized"):
            assert proposal.order_id
    assert {"cycle.started", "candidates.selected", "cycle.completed"} <= {e.type for e in events}
    # The ledger is stored: the cycle row, its record and one analysis row per candidate.
    with session_scope(runtime.engine) as session:
        row = cycle_store.get_cycle(session, record.cycle_id)
        assert row is not None and row.status == "completed"
        assert row.record["proposals"] == [p.model_dump(mode="json") for p in record.proposals]
        rows = feedback_store.candidate_analyses(session, [record.cycle_id])
        assert sorted(r.symbol for r in rows) == sorted(c.symbol for c in record.candidates)


async def test_a_slot_runs_once_and_a_rerun_sends_nothing(make_runtime) -> None:
    runtime = await make_runtime()
    first = await run_cycle(runtime, runtime.clock.now(), slot="2015-12-16T15:30", mode="demo")
    with session_scope(runtime.engine) as session:
        orders_before = len(recent_orders(session, limit=1000))

    with pytest.raises(SlotAlreadyRun):
        await run_cycle(runtime, runtime.clock.now(), slot="2015-12-16T15:30", mode="demo")

    with session_scope(runtime.engine) as session:
        assert len(recent_orders(session, limit=1000)) == orders_before
        assert len(cycle_store.latest_cycles(session, 10)) == 1
    assert first.status == "completed"


class NewsOutage(OfflineMarketData):
    """The sample, except that news about one ticker cannot be fetched."""

    def __init__(self, broken: str) -> None:
        super().__init__()
        self.broken = broken

    def get_news(self, symbols: Sequence[str], **options: Any):  # type: ignore[override]
        if list(symbols) == [self.broken]:
            raise ProviderError(f"news for {self.broken} timed out")
        return super().get_news(symbols, **options)


async def test_one_tickers_failure_is_recorded_and_the_others_go_on(make_runtime) -> None:
    settings = sample_settings(universe="AAPL,MSFT,JPM", max_candidates=3)
    runtime = await make_runtime(settings, market_data=NewsOutage("MSFT"))

    record = await run_cycle(runtime, runtime.clock.now(), slot="test:outage", mode="demo")

    assert record.status == "completed"
    by_symbol = {c.symbol: c for c in record.candidates}
    assert "timed out" in by_symbol["MSFT"].error and not by_symbol["MSFT"].signals
    assert all(c.signals and not c.error for s, c in by_symbol.items() if s != "MSFT")
    assert all(p.symbol != "MSFT" or p.dropped_reason for p in record.proposals)


async def test_confirm_all_leaves_approvals_pending_and_sends_nothing(make_runtime) -> None:
    runtime = await make_runtime(sample_settings(approval_policy="confirm_all"))

    record = await run_cycle(runtime, runtime.clock.now(), slot="test:confirm", mode="demo")

    passed = [p for p in record.proposals if p.verdict in ("approved", "resized")]
    assert passed, record.proposals
    assert all(p.approval_status == "pending" and not p.order_id for p in passed)
    with session_scope(runtime.engine) as session:
        assert recent_orders(session, limit=100) == []
