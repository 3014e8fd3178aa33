"""`run_cycle`: select -> gather -> analyse -> decide -> risk -> confirm -> execute -> record.

One function for the demo, paper, live and the backtest; only the clock, the data provider and the
broker in the `Runtime` differ. Failure contract:
- A schedule slot runs at most once: a second `run_cycle` for the same slot raises
  `SlotAlreadyRun` and touches nothing.
- One ticker's data or analysis failure is recorded on that candidate; the others go on.
- An LLM failure abstains (the decision to trade nothing, with the reason recorded).
- The cycle token budget is checked before every LLM call; when it is reached the cycle stops
  cleanly with status "stopped" and nothing after that point happens (no half-applied actions).
- Any other error marks the cycle "failed" with the error, emits `cycle.failed` and re-raises.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel

from orchestrator.analysis.regime import market_regime
from orchestrator.analysis.selection import select_stocks
from orchestrator.briefing import analyze_candidates, lessons_for
from orchestrator.cycle_record import CandidateRecord, CycleRecord
from orchestrator.decision import decide
from orchestrator.errors import BudgetExceeded
from orchestrator.event_payloads import (
    AnalysisCompleted,
    CandidatesSelected,
    CycleCompleted,
    CycleFailed,
    CycleStarted,
    DecisionProposed,
)
from orchestrator.events import make_event
from orchestrator.execution import process_decision
from orchestrator.llm import CallContext, TokenBudget
from orchestrator.runtime import Runtime
from orchestrator.store import cycles as cycle_store
from orchestrator.store.db import session_scope
from orchestrator.trading.proposals import DecisionProposal

log = logging.getLogger(__name__)

SlotAlreadyRun = cycle_store.SlotAlreadyRun
# News older than this is not "new since the last cycle" even on a first run.
NEWS_LOOKBACK = timedelta(days=7)


@contextmanager
def _timed(record: CycleRecord, step: str) -> Iterator[None]:
    started = time.perf_counter()
    record.step = step
    try:
        yield
    finally:
        record.timings[step] = round(time.perf_counter() - started, 4)


async def run_cycle(
    runtime: Runtime,
    as_of: datetime,
    *,
    slot: str | None = None,
    mode: str = "paper",
    requested_by: str = "scheduler",
) -> CycleRecord:
    """Run one trading cycle at `as_of` and return its stored record (see the module contract)."""
    settings = runtime.settings
    slot = slot or f"manual:{uuid.uuid4().hex[:12]}"
    cycle_id = await asyncio.to_thread(_claim_slot, runtime, slot, mode, as_of)
    record = CycleRecord(cycle_id=cycle_id, slot=slot, mode=mode, as_of=as_of)
    record.engine = runtime.llm.label
    record.notes.extend(runtime.notes)
    await _publish(runtime, record, CycleStarted(as_of=as_of, mode=mode, trigger=_trigger(slot)))
    budget = TokenBudget(settings.llm_cycle_token_budget, name="cycle token budget")
    context = CallContext(cycle_id=cycle_id, budget=budget, as_of=as_of)
    try:
        fills = await runtime.broker.sync(as_of)
        record.fills = [fill.model_dump(mode="json") for fill in fills]
        portfolio = await runtime.broker.snapshot()
        holdings = {p.symbol: p.quantity for p in portfolio.positions if p.quantity}

        with _timed(record, "select"):
            selection = await asyncio.to_thread(
                select_stocks,
                runtime.market_data,
                settings.universe,
                as_of=as_of,
                holdings=list(holdings),
                settings=settings,
            )
            await _assess_regime(runtime, record, as_of)
        record.candidates = [
            CandidateRecord(symbol=c.symbol, held=c.symbol in holdings, rank_score=c.score)
            for c in selection.candidates
        ]
        await _publish(
            runtime, record, CandidatesSelected(symbols=_symbols(record), holdings=list(holdings))
        )

        with _timed(record, "gather_analyse"):
            since = await asyncio.to_thread(_previous_cycle_time, runtime, as_of)
            briefs = await analyze_candidates(
                runtime, record.candidates, holdings, as_of=as_of, since=since, context=context
            )
        for candidate in record.candidates:
            await _publish(runtime, record, _analysis_event(candidate))

        with _timed(record, "decide"):
            lessons = await asyncio.to_thread(lessons_for, runtime, _symbols(record), as_of)
            decision = await decide(
                runtime.llm,
                briefs,
                as_of=as_of,
                portfolio=_portfolio_summary(portfolio),
                limits={**_limits_summary(settings), "market_regime": record.regime_facts},
                lessons=lessons,
                context=context,
                weights=await asyncio.to_thread(_current_weights, runtime, as_of),
            )
        record.weights = decision.weights
        record.decision_abstained = decision.abstained_reason or ""
        record.decision_summary = decision.output.summary if decision.output else ""
        for proposal in decision.output.proposals if decision.output else []:
            if proposal.side in ("buy", "sell"):  # anything else is dropped with a reason later
                await _publish(runtime, record, _decision_event(proposal))

        with _timed(record, "risk_confirm_execute"):
            record.proposals = await process_decision(
                runtime, decision.output, record, holdings=holdings, as_of=as_of
            )
        record.status = "completed"
    except BudgetExceeded as exc:
        record.status = "stopped"
        record.error = str(exc)
    except Exception as exc:
        record.status = "failed"
        record.error = f"{type(exc).__name__}: {exc}"
        await _finish(runtime, record)
        await _publish(
            runtime,
            record,
            CycleFailed(error=record.error, step=record.step, duration_seconds=record.seconds),
        )
        raise
    await _finish(runtime, record)
    await _publish(runtime, record, _completed_event(record), summary=record.summary())
    return record


async def _assess_regime(runtime: Runtime, record: CycleRecord, as_of: datetime) -> None:
    """The market regime for the decision brief and the risk manager; unknown if it fails."""
    try:
        regime = await asyncio.to_thread(
            market_regime, runtime.market_data, list(runtime.settings.universe), as_of=as_of
        )
    except Exception as exc:  # without a regime the risk manager applies the plain limits
        record.notes.append(f"market regime unknown: {exc}")
        return
    record.regime = regime.label
    record.regime_facts = regime.model_dump(mode="json")


def _claim_slot(runtime: Runtime, slot: str, mode: str, as_of: datetime) -> int:
    with session_scope(runtime.engine) as session:
        return cycle_store.claim_slot(session, slot=slot, mode=mode, as_of=as_of)


async def _finish(runtime: Runtime, record: CycleRecord) -> None:
    with _timed(record, "record"):
        snapshot = await runtime.broker.snapshot()
        record.equity = round(snapshot.equity, 2)
        record.positions = sum(1 for position in snapshot.positions if position.quantity)
        record.cash = round(snapshot.cash, 2)
        usage = await asyncio.to_thread(cycle_store.llm_usage, runtime.engine, record.cycle_id)
        record.llm_calls, record.tokens, record.cost_usd = usage
        await asyncio.to_thread(_store, runtime, record)
    await _remember_decisions(runtime, record)


async def _remember_decisions(runtime: Runtime, record: CycleRecord) -> None:
    """The cycle's decisions go into the knowledge base, so later questions can cite them."""
    if runtime.knowledge is None or not record.proposals:
        return
    from orchestrator.analysis.rag.feed import ingest_cycle_record

    try:
        await ingest_cycle_record(runtime.knowledge, record)
    except Exception as exc:  # the decisions are in the database; the index can catch up
        log.warning("cycle %s decisions not added to the knowledge base: %s", record.cycle_id, exc)


def _store(runtime: Runtime, record: CycleRecord) -> None:
    from orchestrator.store.feedback import CandidateAnalysisRow, add_candidate_analyses

    with session_scope(runtime.engine) as session:
        cycle_store.finish_cycle(
            session,
            record.cycle_id,
            status=record.status,
            error=record.error,
            record=record.model_dump(mode="json"),
        )
        add_candidate_analyses(
            session,
            [
                CandidateAnalysisRow(
                    cycle_id=record.cycle_id,
                    symbol=c.symbol,
                    as_of=record.as_of,
                    price=c.price,
                    signals=c.signals,
                    notes=c.notes,
                    error=c.error,
                )
                for c in record.candidates
            ],
        )


def _previous_cycle_time(runtime: Runtime, as_of: datetime) -> datetime:
    with session_scope(runtime.engine) as session:
        previous = cycle_store.previous_cycle_as_of(session, before=as_of)
    floor = as_of - NEWS_LOOKBACK
    return max(previous, floor) if previous else floor


def _current_weights(runtime: Runtime, as_of: datetime) -> dict[str, float] | None:
    from orchestrator.feedback import current_signal_weights

    return current_signal_weights(runtime.engine, runtime.settings, as_of)


def _symbols(record: CycleRecord) -> list[str]:
    return [c.symbol for c in record.candidates]


def _portfolio_summary(portfolio) -> dict[str, object]:  # type: ignore[no-untyped-def]
    equity = portfolio.equity or 1.0
    return {
        "cash": round(portfolio.cash, 2),
        "equity": round(portfolio.equity, 2),
        "positions": [
            {
                "symbol": p.symbol,
                "quantity": p.quantity,
                "weight_pct": round(100 * p.market_value / equity, 2),
                "unrealized_pl_pct": round(100 * (p.market_price / p.avg_price - 1), 2)
                if p.avg_price
                else 0.0,
            }
            for p in portfolio.positions
        ],
    }


def _limits_summary(settings) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {
        "max_position_pct": settings.max_position_pct,
        "max_order_notional": settings.max_order_notional,
        "max_gross_exposure_pct": settings.max_gross_exposure_pct,
        "max_open_positions": settings.max_open_positions,
        "allow_shorting": settings.allow_shorting,
    }


def _trigger(slot: str) -> Literal["schedule", "manual", "backtest"]:
    if slot.startswith("backtest:"):
        return "backtest"
    return "manual" if slot.startswith("manual:") else "schedule"


def _analysis_event(candidate: CandidateRecord) -> AnalysisCompleted:
    forecast = candidate.facts.get("forecast_prob_up")
    return AnalysisCompleted(
        symbol=candidate.symbol,
        ok=not candidate.error,
        error=candidate.error,
        sentiment_score=candidate.signals.get("sentiment"),
        forecast_prob_up=float(forecast) if isinstance(forecast, int | float) else None,
    )


def _decision_event(proposal: DecisionProposal) -> DecisionProposed:
    return DecisionProposed(
        symbol=proposal.symbol,
        side=proposal.side,  # type: ignore[arg-type]  # checked by the caller
        quantity=proposal.quantity,
        target_weight=proposal.target_weight,
        confidence=min(1.0, max(0.0, proposal.confidence)),
        rationale=proposal.rationale[:500],
    )


def _completed_event(record: CycleRecord) -> CycleCompleted:
    return CycleCompleted(
        status="completed" if record.status == "completed" else "partial",
        duration_seconds=record.seconds,
        step_seconds=dict(record.timings),
        candidates=len(record.candidates),
        proposals=len(record.proposals),
        orders=sum(1 for p in record.proposals if p.order_id),
        failed_symbols=[c.symbol for c in record.candidates if c.error],
        tokens=record.tokens,
        cost_usd=record.cost_usd,
        equity=record.equity,
        positions=record.positions,
        regime=record.regime or None,
    )


async def _publish(
    runtime: Runtime, record: CycleRecord, payload: BaseModel, **extra: object
) -> None:
    """Publish a typed payload; `extra` rides along for consumers of the record's shape."""
    event = make_event(payload, cycle_id=record.cycle_id)
    if extra:
        event = event.model_copy(update={"payload": {**event.payload, **extra}})
    await runtime.bus.publish(event)
