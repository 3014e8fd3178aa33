"""The feedback loop: outcomes on the bundled sample, offline lessons, bounded weights."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine

from orchestrator.config import load_settings
from orchestrator.data.offline import OfflineMarketData
from orchestrator.decision import DEFAULT_WEIGHTS
from orchestrator.domain import EXCHANGE_TZ
from orchestrator.feedback import (
    MAX_CHANGE,
    current_signal_weights,
    evaluate_outcomes,
    reflect,
    tuned_weights,
)
from orchestrator.llm import build_llm
from orchestrator.store import feedback as store
from orchestrator.store.db import session_scope
from orchestrator.store.trading import TradeProposalRow
from orchestrator.store.weights import weight_history

# 2015-06-01 15:30 New York: the decision. The last close known then is Friday 2015-05-29's
# (124.78 in the sample); five sessions later, 2015-06-05 closed at 123.22.
DECIDED = datetime(2015, 6, 1, 15, 30, tzinfo=EXCHANGE_TZ).astimezone(UTC)
AFTER_HORIZON = datetime(2015, 6, 5, 21, 0, tzinfo=UTC)
BEFORE_HORIZON = datetime(2015, 6, 4, 21, 0, tzinfo=UTC)


def _propose(engine: Engine, side: str, signals: dict[str, float]) -> None:
    with session_scope(engine) as session:
        session.add(
            TradeProposalRow(
                cycle_id=7,
                created_at=DECIDED,
                symbol="AAPL",
                side=side,
                quantity=10,
                horizon_days=5,
                rationale="test",
                status="accepted",
            )
        )
        store.add_candidate_analyses(
            session,
            [store.CandidateAnalysisRow(cycle_id=7, symbol="AAPL", as_of=DECIDED, signals=signals)],
        )


def test_outcome_waits_for_the_horizon_then_records_the_real_move(engine: Engine) -> None:
    market = OfflineMarketData()
    _propose(engine, "buy", {"forecast": 0.4, "sentiment": -0.3, "momentum": 0.0})

    assert evaluate_outcomes(engine, market, as_of=BEFORE_HORIZON) == []
    (outcome,) = evaluate_outcomes(engine, market, as_of=AFTER_HORIZON)

    assert outcome.entry_price == pytest.approx(124.777, abs=0.01)
    assert outcome.exit_price == pytest.approx(123.216, abs=0.01)
    assert outcome.return_pct == pytest.approx(-1.25, abs=0.01)
    assert outcome.hit is False  # a buy before a fall
    # The bearish sentiment pointed the right way, the bullish forecast did not; a zero
    # signal pointed nowhere and is not counted.
    assert outcome.signals_agreed == {"forecast": False, "sentiment": True}
    # Evaluated once: a second run adds nothing.
    assert evaluate_outcomes(engine, market, as_of=AFTER_HORIZON) == []
    with session_scope(engine) as session:
        assert len(store.outcomes(session)) == 1


async def test_offline_reflection_writes_a_lesson_naming_the_misleading_signal(
    sqlite_engine: Engine,
) -> None:
    _propose(sqlite_engine, "buy", {"forecast": 0.4, "sentiment": -0.3})
    outcomes = evaluate_outcomes(sqlite_engine, OfflineMarketData(), as_of=AFTER_HORIZON)
    llm = build_llm(load_settings(), sqlite_engine)

    (row,) = await reflect(llm, sqlite_engine, outcomes, as_of=AFTER_HORIZON)
    lesson = row.text

    assert "AAPL" in lesson and "did not work" in lesson and "Misleading: forecast" in lesson
    with session_scope(sqlite_engine) as session:
        before = store.recent_lessons(session, before=BEFORE_HORIZON)
        after = store.recent_lessons(session, symbols=["AAPL"], before=AFTER_HORIZON)
    assert before == []  # point-in-time: not visible before it was written
    assert [row.text for row in after] == [lesson]


def test_weights_are_the_defaults_without_outcomes() -> None:
    assert tuned_weights({}) == pytest.approx(DEFAULT_WEIGHTS, abs=1e-4)


def test_a_few_outcomes_barely_move_the_weights() -> None:
    weights = tuned_weights({"forecast": (1.0, 3)})
    assert DEFAULT_WEIGHTS["forecast"] < weights["forecast"] < DEFAULT_WEIGHTS["forecast"] * 1.2


def test_weights_stay_bounded_however_many_outcomes() -> None:
    weights = tuned_weights({"forecast": (0.0, 10_000), "sentiment": (1.0, 10_000)})
    raw_ratio = (weights["sentiment"] / DEFAULT_WEIGHTS["sentiment"]) / (
        weights["forecast"] / DEFAULT_WEIGHTS["forecast"]
    )
    assert raw_ratio == pytest.approx((1 + MAX_CHANGE) / (1 - MAX_CHANGE), rel=0.01)
    assert sum(weights.values()) == pytest.approx(1.0, abs=1e-3)
    assert min(weights.values()) > 0


def test_weights_changes_are_stored_with_a_reason_and_can_be_switched_off(
    sqlite_engine: Engine,
) -> None:
    _propose(sqlite_engine, "buy", {"forecast": 0.4, "sentiment": -0.3})
    evaluate_outcomes(sqlite_engine, OfflineMarketData(), as_of=AFTER_HORIZON)

    assert (
        current_signal_weights(sqlite_engine, load_settings(adaptive_weights=False), AFTER_HORIZON)
        is None
    )
    weights = current_signal_weights(sqlite_engine, load_settings(), AFTER_HORIZON)

    assert weights is not None and weights["sentiment"] > DEFAULT_WEIGHTS["sentiment"]
    (change,) = weight_history(_session(sqlite_engine))
    assert "sentiment 100% of 1" in change.reason and "forecast 0% of 1" in change.reason
    # Unchanged weights are not stored again.
    current_signal_weights(sqlite_engine, load_settings(), AFTER_HORIZON)
    assert len(weight_history(_session(sqlite_engine))) == 1


def _session(engine: Engine):  # type: ignore[no-untyped-def]
    from sqlmodel import Session

    return Session(engine)


def test_weights_move_toward_the_informative_signal_and_stay_bounded(
    sqlite_engine: Engine,
) -> None:
    """A synthetic history: the forecast points the right way 70 % of the time, sentiment is a
    coin toss. Over the window the forecast's weight rises and sentiment's falls, within bounds;
    outcomes evaluated after the decision moment are not seen (point-in-time)."""
    import random

    rng = random.Random(7)
    start = datetime(2015, 1, 5, 21, 0, tzinfo=UTC)
    with session_scope(sqlite_engine) as session:
        for n in range(300):
            session.add(
                store.DecisionOutcomeRow(
                    proposal_id=n + 1,
                    symbol="AAPL",
                    side="buy",
                    decided_at=start,
                    horizon_days=5,
                    entry_price=100.0,
                    exit_price=101.0,
                    return_pct=1.0,
                    benchmark_return_pct=0.0,
                    excess_return_pct=1.0,
                    hit=True,
                    signals_agreed={
                        "forecast": rng.random() < 0.7,
                        "sentiment": rng.random() < 0.5,
                    },
                    evaluated_at=start.replace(day=start.day + n % 20),
                )
            )
    as_of = datetime(2015, 2, 1, 21, 0, tzinfo=UTC)

    weights = current_signal_weights(sqlite_engine, load_settings(), as_of)
    before_any = current_signal_weights(sqlite_engine, load_settings(), start.replace(day=4))

    assert weights is not None and before_any is not None
    assert weights["forecast"] > DEFAULT_WEIGHTS["forecast"] * 1.1
    assert weights["sentiment"] < DEFAULT_WEIGHTS["sentiment"] * 1.05
    for name, value in weights.items():
        share = value / DEFAULT_WEIGHTS[name]
        assert (1 - MAX_CHANGE) / (1 + MAX_CHANGE) <= share <= (1 + MAX_CHANGE) / (1 - MAX_CHANGE)
    assert before_any == pytest.approx(DEFAULT_WEIGHTS, abs=1e-4)
