"""The `cycle` table: one row per trading cycle, the ledger of what it did."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Row, bindparam, func
from sqlalchemy import select as core_select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from orchestrator.errors import UserFacingError
from orchestrator.store.base import utc_field, utcnow


class SlotAlreadyRun(UserFacingError):
    """A schedule slot runs at most once."""


class CycleRow(SQLModel, table=True):
    __tablename__ = "cycle"

    id: int | None = Field(default=None, primary_key=True)
    # The schedule slot ("2015-03-02T15:30" or "manual:<uuid>"); unique so a slot runs once.
    slot: str = Field(index=True, unique=True, max_length=64)
    mode: str = Field(max_length=16)  # demo | paper | live | backtest
    as_of: datetime = utc_field()
    started_at: datetime = utc_field(default_now=True)
    finished_at: datetime | None = utc_field(nullable=True)
    # running | completed | failed | stopped (budget) | interrupted (the process stopped)
    status: str = Field(default="running", max_length=16)
    error: str = Field(default="")
    record: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


def claim_slot(session: Session, *, slot: str, mode: str, as_of: datetime) -> int:
    """Insert the cycle row for `slot` and return its id; raise `SlotAlreadyRun` if it exists.

    The unique index decides, so two processes racing for one slot cannot both win.
    """
    row = CycleRow(slot=slot, mode=mode, as_of=as_of)
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        existing = session.exec(select(CycleRow).where(CycleRow.slot == slot)).first()
        ran = f" (cycle #{existing.id}, {existing.status})" if existing else ""
        raise SlotAlreadyRun(
            f"The schedule slot {slot} already ran{ran}; a slot runs at most once."
        ) from None
    assert row.id is not None
    return row.id


def finish_cycle(
    session: Session, cycle_id: int, *, status: str, error: str, record: dict[str, Any]
) -> None:
    row = session.get(CycleRow, cycle_id)
    if row is None:
        raise KeyError(cycle_id)
    row.status, row.error, row.record, row.finished_at = status, error, record, utcnow()
    session.add(row)


def mark_interrupted(session: Session, reason: str) -> int:
    """Mark cycles left `running` (a process that died or was stopped) as interrupted."""
    rows = list(session.exec(select(CycleRow).where(CycleRow.status == "running")))
    for row in rows:
        row.status, row.error, row.finished_at = "interrupted", reason, utcnow()
        session.add(row)
    return len(rows)


def get_cycle(session: Session, cycle_id: int) -> CycleRow | None:
    return session.get(CycleRow, cycle_id)


def previous_cycle_as_of(session: Session, *, before: datetime) -> datetime | None:
    statement = select(func.max(CycleRow.as_of)).where(
        CycleRow.as_of < before, CycleRow.status == "completed"
    )
    return session.exec(statement).first()


def latest_cycles(
    session: Session, limit: int = 10, *, since: datetime | None = None
) -> list[CycleRow]:
    statement = select(CycleRow).order_by(col(CycleRow.id).desc()).limit(limit)
    if since is not None:
        statement = statement.where(CycleRow.started_at >= since)
    return list(session.exec(statement))


_cycle = CycleRow.__table__  # type: ignore[attr-defined]
_READ_LATEST = core_select(_cycle).order_by(_cycle.c.id.desc()).limit(bindparam("limit"))


def read_latest_cycles(session: Session, limit: int = 10) -> list[Row[Any]]:
    """`latest_cycles` as plain rows (the columns of `CycleRow`), for read-only views: a Core
    statement on the session's connection costs a fraction of an ORM query (a bot command
    pays it once per chat; docs/benchmarks/bot.md). It does not flush the session first."""
    return list(session.connection().execute(_READ_LATEST, {"limit": limit}))


def llm_usage(engine: Engine, cycle_id: int) -> tuple[int, int, float]:
    """(calls, tokens, cost in USD) of a cycle, counted from the LLM call log."""
    from orchestrator.store.llm import LLMCallRow

    with Session(engine) as session:
        calls, prompt, completion, cost = session.exec(
            select(
                func.count(col(LLMCallRow.id)),
                func.coalesce(func.sum(LLMCallRow.prompt_tokens), 0),
                func.coalesce(func.sum(LLMCallRow.completion_tokens), 0),
                func.coalesce(func.sum(LLMCallRow.cost_usd), 0.0),
            ).where(LLMCallRow.cycle_id == cycle_id, col(LLMCallRow.cached).is_(False))
        ).one()
    return int(calls), int(prompt) + int(completion), float(cost)
