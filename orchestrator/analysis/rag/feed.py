"""What a trading cycle feeds into the knowledge base: its news, its decisions, their outcomes and
the lessons drawn from them. One coroutine each, for the cycle to call:

* `ingest_news(kb, items)` with the news items the cycle fetched (at gather time);
* `ingest_cycle_record(kb, record)` with the finished cycle record (`CycleRecord.model_dump()`
  or the model itself): one "decision" document per proposal, plus the decision summary;
* `ingest_outcomes(kb, outcomes)` with evaluated decision outcomes (`DecisionOutcomeRow`s or
  dicts of the same fields);
* `ingest_lessons(kb, lessons)` with lessons (`LessonRow`s or dicts).

Point in time: every document is dated when its content became known, never earlier: a decision
at the cycle's `as_of`, an outcome at its `evaluated_at`, a lesson at its `created_at`. A backtest
replaying 2015 therefore never retrieves an outcome measured in 2016.

De-duplication is by content: the text includes the cycle id / proposal id, so calling any of
these twice for the same thing adds nothing, while two cycles with identical words stay apart.

Failure contract: blocking work runs in a worker thread; a model or Qdrant that cannot be opened
raises `ConfigError`, an embedding endpoint failure `ProviderError`. The cycle decides whether
that matters (it should log and go on: retrieval is context, not a trading input).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from orchestrator.analysis.rag.ingest import SourceDocument, news_document, record_document
from orchestrator.analysis.rag.knowledge import IngestReport, KnowledgeBase
from orchestrator.domain import NewsItem


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _when(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(f"expected a tz-aware datetime, got {value!r}")
    return value


def _number(value: Any, digits: int = 2) -> str:
    return "n/a" if value is None else f"{float(value):.{digits}f}"


async def _ingest(kb: KnowledgeBase, documents: Iterable[SourceDocument]) -> IngestReport:
    batch = list(documents)
    if not batch:
        return IngestReport()
    return await asyncio.to_thread(kb.ingest, batch)


async def ingest_news(kb: KnowledgeBase, items: Sequence[NewsItem]) -> IngestReport:
    """Add the news items a cycle fetched; items seen before (same text) are skipped."""
    unique = {item.id: item for item in items}
    return await _ingest(kb, (news_document(item) for item in unique.values()))


def decision_documents(record: Any) -> list[SourceDocument]:
    """The "decision" documents of one cycle record (a dict or `CycleRecord`)."""
    cycle_id = _get(record, "cycle_id")
    as_of = _when(_get(record, "as_of"))
    documents: list[SourceDocument] = []
    for proposal in _get(record, "proposals") or []:
        symbol = str(_get(proposal, "symbol", "")).upper()
        side = str(_get(proposal, "side", "")).upper()
        verdict = _get(proposal, "verdict") or "dropped"
        lines = [
            f"Cycle {cycle_id} on {as_of.date().isoformat()}: proposed {side} {symbol}, "
            f"quantity {_number(_get(proposal, 'quantity'), 4)}, target weight "
            f"{_number(_get(proposal, 'target_weight'), 4)}, confidence "
            f"{_number(_get(proposal, 'confidence'))}, price {_number(_get(proposal, 'price'))}.",
            f"Risk verdict: {verdict}"
            + (f" (quantity {_get(proposal, 'verdict_quantity')})" if verdict == "resized" else "")
            + ".",
        ]
        if _get(proposal, "dropped_reason"):
            lines.append(f"Dropped: {_get(proposal, 'dropped_reason')}.")
        if _get(proposal, "reasons"):
            lines.append("Reasons: " + "; ".join(str(r) for r in _get(proposal, "reasons")) + ".")
        if _get(proposal, "order_status"):
            lines.append(f"Order: {_get(proposal, 'order_status')}.")
        if _get(proposal, "rationale"):
            lines.append(f"Rationale: {_get(proposal, 'rationale')}")
        documents.append(
            record_document(
                "decision",
                "\n".join(lines),
                tickers=(symbol,) if symbol else (),
                at=as_of,
                title=f"Decision {side} {symbol} (cycle {cycle_id})",
                source=f"cycle:{cycle_id}:{symbol}",
            )
        )
    summary = _get(record, "decision_summary") or ""
    if summary:
        candidates = _get(record, "candidates") or []
        symbols = tuple(str(_get(c, "symbol", "")).upper() for c in candidates)
        documents.append(
            record_document(
                "decision",
                f"Cycle {cycle_id} on {as_of.date().isoformat()} decision summary: {summary}",
                tickers=tuple(s for s in symbols if s),
                at=as_of,
                title=f"Cycle {cycle_id} decision summary",
                source=f"cycle:{cycle_id}",
            )
        )
    return documents


async def ingest_cycle_record(kb: KnowledgeBase, record: Any) -> IngestReport:
    """Add a finished cycle's decisions (see `decision_documents`)."""
    return await _ingest(kb, decision_documents(record))


def outcome_document(outcome: Any) -> SourceDocument:
    """One evaluated decision outcome, dated when it was evaluated."""
    symbol = str(_get(outcome, "symbol", "")).upper()
    side = str(_get(outcome, "side", "")).upper()
    decided = _when(_get(outcome, "decided_at"))
    horizon = int(_get(outcome, "horizon_days", 0) or 0)
    evaluated = _get(outcome, "evaluated_at")
    known_at = _when(evaluated) if evaluated is not None else decided + timedelta(days=horizon)
    hit = bool(_get(outcome, "hit", False))
    text = (
        f"Outcome of proposal {_get(outcome, 'proposal_id')}: {side} {symbol} decided "
        f"{decided.date().isoformat()}, after {horizon} days the price went from "
        f"{_number(_get(outcome, 'entry_price'))} to {_number(_get(outcome, 'exit_price'))}: "
        f"return {_number(_get(outcome, 'return_pct'))}% against the benchmark's "
        f"{_number(_get(outcome, 'benchmark_return_pct'))}% (excess "
        f"{_number(_get(outcome, 'excess_return_pct'))}%). "
        f"The decision was {'right' if hit else 'wrong'}."
    )
    agreed = _get(outcome, "signals_agreed") or {}
    if agreed:
        right = [name for name, ok in agreed.items() if ok]
        wrong = [name for name, ok in agreed.items() if not ok]
        text += f" Signals that agreed: {', '.join(right) or 'none'}; disagreed: "
        text += f"{', '.join(wrong) or 'none'}."
    return record_document(
        "outcome",
        text,
        tickers=(symbol,) if symbol else (),
        at=known_at,
        title=f"Outcome {side} {symbol} {decided.date().isoformat()}",
        source=f"outcome:{_get(outcome, 'proposal_id')}",
    )


async def ingest_outcomes(kb: KnowledgeBase, outcomes: Iterable[Any]) -> IngestReport:
    """Add evaluated decision outcomes (`DecisionOutcomeRow`s or dicts)."""
    return await _ingest(kb, [outcome_document(o) for o in outcomes])


def lesson_document(lesson: Any) -> SourceDocument:
    """One lesson, dated when it was drawn; a general lesson carries no ticker."""
    symbol = str(_get(lesson, "symbol") or "").upper()
    created = _when(_get(lesson, "created_at"))
    lesson_id = _get(lesson, "id")
    text = str(_get(lesson, "text", "")).strip()
    return record_document(
        "lesson",
        f"Lesson{f' #{lesson_id}' if lesson_id is not None else ''}"
        f"{f' on {symbol}' if symbol else ''} ({created.date().isoformat()}): {text}",
        tickers=(symbol,) if symbol else (),
        at=created,
        title=f"Lesson {symbol or 'general'} {created.date().isoformat()}",
        source=f"lesson:{lesson_id if lesson_id is not None else created.isoformat()}",
    )


async def ingest_lessons(kb: KnowledgeBase, lessons: Iterable[Any]) -> IngestReport:
    """Add lessons (`LessonRow`s or dicts with text, symbol, created_at)."""
    return await _ingest(kb, [lesson_document(item) for item in lessons if _get(item, "text")])


__all__ = [
    "decision_documents",
    "ingest_cycle_record",
    "ingest_lessons",
    "ingest_news",
    "ingest_outcomes",
    "lesson_document",
    "outcome_document",
]
