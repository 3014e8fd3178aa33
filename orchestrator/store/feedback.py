"""Tables of the cycle's analysis ledger and the feedback loop: `candidate_analysis`,
`decision_outcome` and `lesson`, with their repository functions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, Session, SQLModel, col, select

from orchestrator.store.base import utc_field
from orchestrator.store.trading import TradeProposalRow


class CandidateAnalysisRow(SQLModel, table=True):
    __tablename__ = "candidate_analysis"

    id: int | None = Field(default=None, primary_key=True)
    cycle_id: int = Field(index=True)
    symbol: str = Field(max_length=16, index=True)
    as_of: datetime = utc_field()
    price: float | None = None
    # Every number the decision saw: factor values, sentiment, forecasts; so outcomes can say
    # afterwards which signals were right.
    signals: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    notes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    error: str = Field(default="")


class DecisionOutcomeRow(SQLModel, table=True):
    __tablename__ = "decision_outcome"

    id: int | None = Field(default=None, primary_key=True)
    proposal_id: int = Field(unique=True, index=True)
    cycle_id: int | None = None
    symbol: str = Field(max_length=16, index=True)
    side: str = Field(max_length=8)
    decided_at: datetime = utc_field()
    horizon_days: int
    entry_price: float
    exit_price: float
    return_pct: float
    benchmark_return_pct: float
    excess_return_pct: float
    hit: bool
    signals_agreed: dict[str, bool] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    evaluated_at: datetime = utc_field()


class LessonRow(SQLModel, table=True):
    __tablename__ = "lesson"

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = utc_field(index=True)
    symbol: str | None = Field(default=None, max_length=16, index=True)
    text: str
    source: str = Field(default="offline", max_length=32)  # offline rules | model name
    evidence: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


def add_candidate_analyses(session: Session, rows: list[CandidateAnalysisRow]) -> None:
    session.add_all(rows)


def candidate_analyses(session: Session, cycle_ids: list[int]) -> list[CandidateAnalysisRow]:
    statement = select(CandidateAnalysisRow).where(
        col(CandidateAnalysisRow.cycle_id).in_(cycle_ids)
    )
    return list(session.exec(statement))


def add_outcome(session: Session, row: DecisionOutcomeRow) -> None:
    session.add(row)


def outcomes(
    session: Session, *, since: datetime | None = None, symbol: str | None = None
) -> list[DecisionOutcomeRow]:
    statement = select(DecisionOutcomeRow).order_by(col(DecisionOutcomeRow.evaluated_at))
    if since is not None:
        statement = statement.where(DecisionOutcomeRow.evaluated_at >= since)
    if symbol is not None:
        statement = statement.where(DecisionOutcomeRow.symbol == symbol)
    return list(session.exec(statement))


def add_lesson(session: Session, row: LessonRow) -> None:
    session.add(row)


def recent_lessons(
    session: Session, *, limit: int = 10, symbols: list[str] | None = None, before: datetime
) -> list[LessonRow]:
    """The newest lessons created before `before` (point-in-time), optionally for some symbols
    (general lessons, with no symbol, are always included)."""
    statement = select(LessonRow).where(LessonRow.created_at <= before)
    if symbols is not None:
        statement = statement.where(
            col(LessonRow.symbol).in_(symbols) | col(LessonRow.symbol).is_(None)
        )
    statement = statement.order_by(col(LessonRow.created_at).desc()).limit(limit)
    return list(session.exec(statement))


def unevaluated_proposals(session: Session, *, before: datetime) -> list[TradeProposalRow]:
    """Accepted proposals made at or before `before` that have no outcome yet."""
    done = select(DecisionOutcomeRow.proposal_id)
    statement = (
        select(TradeProposalRow)
        .where(TradeProposalRow.status == "accepted", TradeProposalRow.created_at <= before)
        .where(col(TradeProposalRow.id).not_in(done))
        .order_by(col(TradeProposalRow.id))
    )
    return list(session.exec(statement))
