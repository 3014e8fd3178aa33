"""`signal_weights`: every change of the decision's signal weights, with its reason."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, Session, SQLModel, col, select

from orchestrator.store.base import utc_field


class SignalWeightsRow(SQLModel, table=True):
    __tablename__ = "signal_weights"

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = utc_field(index=True)
    weights: dict[str, float] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    hit_rates: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    reason: str = Field(default="")


def save_weights(session: Session, row: SignalWeightsRow) -> None:
    session.add(row)


def latest_weights(session: Session, *, before: datetime) -> SignalWeightsRow | None:
    """The weights in force at `before` (point-in-time: later changes are invisible)."""
    statement = (
        select(SignalWeightsRow)
        .where(SignalWeightsRow.created_at <= before)
        .order_by(col(SignalWeightsRow.created_at).desc(), col(SignalWeightsRow.id).desc())
        .limit(1)
    )
    return session.exec(statement).first()


def weight_history(session: Session, *, limit: int = 20) -> list[SignalWeightsRow]:
    statement = (
        select(SignalWeightsRow)
        .order_by(col(SignalWeightsRow.created_at).desc(), col(SignalWeightsRow.id).desc())
        .limit(limit)
    )
    return list(session.exec(statement))
