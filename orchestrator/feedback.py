"""The feedback loop: outcomes of past proposals, lessons, and self-tuning signal weights.

1. `evaluate_outcomes`: once a proposal's horizon (trading sessions) has passed at `as_of`, its
   `decision_outcome` records the return from the decision price to the close `horizon` sessions
   later, the benchmark's return over the same sessions, hit or miss (a buy hits when the
   return is positive, a sell when it is negative), and which signals pointed the right way.
2. `reflect`: the reflection task (LLM, or the offline rule below) turns the worst misses and
   best hits into short `lesson`s, which the decision prompt receives and the knowledge base
   ingests.
3. `current_signal_weights`: the decision's combined score uses weights re-estimated from the
   outcomes of the last `WEIGHTS_WINDOW_DAYS`:
       edge[s]   = 2 * hit_rate[s] - 1                 in [-1, 1], over n[s] outcomes
       shrunk[s] = edge[s] * n[s] / (n[s] + PRIOR_OUTCOMES)
       weight[s] = default[s] * clamp(1 + shrunk[s], 1 - MAX_CHANGE, 1 + MAX_CHANGE)
   then renormalised to sum to 1. With few outcomes the weights stay near the defaults; no
   weight ever moves more than MAX_CHANGE from its default. Every change is stored with its
   reason (`signal_weights`) and shown by `fingpt weights`. `ADAPTIVE_WEIGHTS=false` turns it off.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine

from orchestrator.config import Settings
from orchestrator.data.base import MarketData
from orchestrator.data.benchmark import BENCHMARK_SYMBOL
from orchestrator.decision import DEFAULT_WEIGHTS
from orchestrator.errors import DataError
from orchestrator.llm import CallContext, LLMClient, register_offline_handler
from orchestrator.store import feedback as store
from orchestrator.store.db import session_scope
from orchestrator.store.trading import TradeProposalRow
from orchestrator.store.weights import SignalWeightsRow, latest_weights, save_weights

log = logging.getLogger(__name__)

DEFAULT_HORIZON = 5
PRIOR_OUTCOMES = 20  # shrinkage: this many outcomes count as much as the defaults
MAX_CHANGE = 0.5  # a weight stays within +-50 % of its default
MAX_REFLECTIONS = 5  # per evaluation run: the most instructive outcomes only
_BAR_SLACK = timedelta(days=10)


class LessonDraft(BaseModel):
    text: str = Field(min_length=5, max_length=400)


class Outcome(BaseModel):
    """What happened after one proposal (the stored row, as a plain value)."""

    proposal_id: int
    cycle_id: int | None
    symbol: str
    side: str
    decided_at: datetime
    evaluated_at: datetime
    horizon_days: int
    entry_price: float
    exit_price: float
    return_pct: float
    benchmark_return_pct: float
    excess_return_pct: float
    hit: bool
    signals: dict[str, float]
    signals_agreed: dict[str, bool]
    rationale: str = ""


def evaluate_outcomes(engine: Engine, market_data: MarketData, *, as_of: datetime) -> list[Outcome]:
    """Store an outcome for every accepted proposal whose horizon has passed at `as_of`."""
    with session_scope(engine) as session:
        proposals = store.unevaluated_proposals(session, before=as_of)
        cycle_ids = sorted({p.cycle_id for p in proposals if p.cycle_id is not None})
        signals = {
            (row.cycle_id, row.symbol): row.signals
            for row in store.candidate_analyses(session, cycle_ids)
        }
        outcomes: list[Outcome] = []
        for proposal in proposals:
            outcome = _outcome(proposal, signals, market_data, as_of)
            if outcome is None:
                continue
            outcomes.append(outcome)
            store.add_outcome(
                session,
                store.DecisionOutcomeRow(
                    proposal_id=outcome.proposal_id,
                    cycle_id=outcome.cycle_id,
                    symbol=outcome.symbol,
                    side=outcome.side,
                    decided_at=outcome.decided_at,
                    horizon_days=outcome.horizon_days,
                    entry_price=outcome.entry_price,
                    exit_price=outcome.exit_price,
                    return_pct=outcome.return_pct,
                    benchmark_return_pct=outcome.benchmark_return_pct,
                    excess_return_pct=outcome.excess_return_pct,
                    hit=outcome.hit,
                    signals_agreed=outcome.signals_agreed,
                    evaluated_at=as_of,
                ),
            )
    return outcomes


def _outcome(
    proposal: TradeProposalRow,
    signals: dict[tuple[int | None, str], dict[str, Any]],
    market_data: MarketData,
    as_of: datetime,
) -> Outcome | None:
    """None while the horizon has not passed (or the prices are not there)."""
    horizon = proposal.horizon_days or DEFAULT_HORIZON
    decided = proposal.created_at
    prices = _entry_and_exit(market_data, proposal.symbol, decided, as_of, horizon)
    if prices is None:
        return None
    move = prices[1] / prices[0] - 1
    bench = _entry_and_exit(market_data, BENCHMARK_SYMBOL, decided, as_of, horizon)
    benchmark = bench[1] / bench[0] - 1 if bench else 0.0
    direction = 1.0 if proposal.side == "buy" else -1.0
    seen = {
        name: float(value)
        for name, value in signals.get((proposal.cycle_id, proposal.symbol), {}).items()
        if isinstance(value, int | float) and name in DEFAULT_WEIGHTS
    }
    return Outcome(
        proposal_id=proposal.id or 0,
        cycle_id=proposal.cycle_id,
        symbol=proposal.symbol,
        side=proposal.side,
        decided_at=decided,
        evaluated_at=as_of,
        horizon_days=horizon,
        entry_price=prices[0],
        exit_price=prices[1],
        return_pct=round(100 * move, 4),
        benchmark_return_pct=round(100 * benchmark, 4),
        excess_return_pct=round(100 * (move - benchmark), 4),
        hit=direction * move > 0,
        signals=seen,
        # A signal agreed when it pointed the way the price then went.
        signals_agreed={name: value * move > 0 for name, value in seen.items() if value},
        rationale=proposal.rationale,
    )


def _entry_and_exit(
    market_data: MarketData, symbol: str, decided: datetime, as_of: datetime, horizon: int
) -> tuple[float, float] | None:
    """The last close known at `decided` and the close `horizon` sessions later (if known)."""
    try:
        before = market_data.get_bars(
            [symbol], (decided - _BAR_SLACK).date(), decided.date(), as_of=decided
        )[symbol]
        after = market_data.get_bars(
            [symbol],
            before.index[-1].date() + timedelta(days=1),
            as_of.date(),
            as_of=as_of,
        )[symbol]
    except (DataError, KeyError, IndexError):
        return None
    if len(after) < horizon:
        return None
    return float(before["close"].iloc[-1]), float(after["close"].iloc[horizon - 1])


def hit_rates(outcomes: Sequence[Any]) -> dict[str, tuple[float, int]]:
    """Per signal: the share of outcomes it pointed the right way, and over how many."""
    counts: dict[str, list[int]] = {}
    for outcome in outcomes:
        for name, agreed in outcome.signals_agreed.items():
            tally = counts.setdefault(name, [0, 0])
            tally[0] += int(agreed)
            tally[1] += 1
    return {name: (hits / total, total) for name, (hits, total) in counts.items() if total}


def tuned_weights(
    rates: dict[str, tuple[float, int]], defaults: dict[str, float] = DEFAULT_WEIGHTS
) -> dict[str, float]:
    """The formula in the module docstring: shrunk, bounded, renormalised."""
    raw: dict[str, float] = {}
    for name, default in defaults.items():
        rate, n = rates.get(name, (0.5, 0))
        shrunk = (2 * rate - 1) * n / (n + PRIOR_OUTCOMES)
        raw[name] = default * min(1 + MAX_CHANGE, max(1 - MAX_CHANGE, 1 + shrunk))
    total = sum(raw.values())
    return {name: round(value / total, 4) for name, value in raw.items()}


def current_signal_weights(
    engine: Engine, settings: Settings, as_of: datetime
) -> dict[str, float] | None:
    """The weights for a decision at `as_of` (None: the defaults), re-estimated from outcomes
    evaluated in the window before `as_of`; a change is stored with its reason."""
    if not settings.adaptive_weights:
        return None
    since = as_of - timedelta(days=settings.weights_window_days)
    with session_scope(engine) as session:
        window = [o for o in store.outcomes(session, since=since) if o.evaluated_at <= as_of]
        rates = hit_rates(window)
        weights = tuned_weights(rates)
        previous = latest_weights(session, before=as_of)
        if previous is None or previous.weights != weights:
            reason = f"hit rates over the last {settings.weights_window_days} days: " + (
                ", ".join(f"{n} {r:.0%} of {c}" for n, (r, c) in sorted(rates.items()))
                or "no outcomes yet (defaults)"
            )
            save_weights(
                session,
                SignalWeightsRow(
                    created_at=as_of, weights=weights, hit_rates=_plain(rates), reason=reason
                ),
            )
    return weights


def _plain(rates: dict[str, tuple[float, int]]) -> dict[str, Any]:
    return {name: {"hit_rate": round(rate, 4), "n": n} for name, (rate, n) in rates.items()}


# --- reflection -----------------------------------------------------------------------------


def offline_reflection(variables: dict[str, Any], schema: type[Any]) -> LessonDraft:
    """The offline rule: name the outcome and the signals that were right and wrong."""
    outcome = variables.get("outcome") or {}
    agreed = outcome.get("signals_agreed", {}) if isinstance(outcome, dict) else {}
    right = sorted(name for name, ok in agreed.items() if ok)
    wrong = sorted(name for name, ok in agreed.items() if not ok)
    verdict = "worked" if outcome.get("hit") else "did not work"
    text = (
        f"A {outcome.get('side', '?')} of {variables.get('symbol', '?')} {verdict} "
        f"({outcome.get('return_pct', 0):+.1f}% vs benchmark "
        f"{outcome.get('benchmark_return_pct', 0):+.1f}%)."
    )
    if wrong:
        text += f" Misleading: {', '.join(wrong)}."
    if right:
        text += f" Right: {', '.join(right)}."
    return LessonDraft(text=text[:400])


register_offline_handler("reflection", offline_reflection)


async def reflect(
    llm: LLMClient, engine: Engine, outcomes: Sequence[Outcome], *, as_of: datetime
) -> list[store.LessonRow]:
    """Write lessons for the most instructive outcomes (largest moves first); returns them."""
    chosen = sorted(outcomes, key=lambda o: abs(o.return_pct), reverse=True)[:MAX_REFLECTIONS]
    lessons: list[tuple[Outcome, str, str]] = []
    for outcome in chosen:
        result = await llm.structured(
            "reflection",
            template="reflection",
            variables={
                "symbol": outcome.symbol,
                "decided_at": outcome.decided_at,
                "decision": {"side": outcome.side, "rationale": outcome.rationale[:400]},
                "outcome": outcome.model_dump(mode="json"),
            },
            schema=LessonDraft,
            context=CallContext(as_of=as_of),
        )
        if result.value is not None:
            lessons.append((outcome, result.value.text, result.engine or llm.label))
    rows = [
        store.LessonRow(
            created_at=as_of,
            symbol=outcome.symbol,
            text=text,
            source=source[:32],
            evidence={"proposal_id": outcome.proposal_id, "hit": outcome.hit},
        )
        for outcome, text, source in lessons
    ]
    with session_scope(engine) as session:
        for row in rows:
            store.add_lesson(session, row)
    return rows


async def evaluate_and_reflect(runtime: Any, as_of: datetime) -> dict[str, Any]:
    """The post-close job: outcomes, lessons (also into the knowledge base), weights."""
    outcomes = await asyncio.to_thread(
        evaluate_outcomes, runtime.engine, runtime.market_data, as_of=as_of
    )
    lessons = await reflect(runtime.llm, runtime.engine, outcomes, as_of=as_of) if outcomes else []
    if outcomes and runtime.knowledge is not None:
        from orchestrator.analysis.rag.feed import ingest_lessons, ingest_outcomes

        try:
            await ingest_outcomes(runtime.knowledge, outcomes)
            await ingest_lessons(runtime.knowledge, lessons)
        except Exception as exc:  # both are stored; `fingpt ingest history` catches the index up
            log.warning("outcomes and lessons not added to the knowledge base: %s", exc)
    weights = await asyncio.to_thread(
        current_signal_weights, runtime.engine, runtime.settings, as_of
    )
    return {
        "outcomes": len(outcomes),
        "hits": sum(o.hit for o in outcomes),
        "lessons": [row.text for row in lessons],
        "weights": weights,
    }
