"""The `backtest` table (one row per backtest run, with its metrics) and the reads a backtest
report needs from its own database (fills joined to their orders, the LLM call log)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Date, func
from sqlmodel import Field, Session, SQLModel, col, select

from orchestrator.store.base import utc_field
from orchestrator.store.llm import LLMCallRow
from orchestrator.store.trading import FillRow, OrderRow


class BacktestRow(SQLModel, table=True):
    __tablename__ = "backtest"

    id: str = Field(primary_key=True, max_length=32)
    created_at: datetime = utc_field(default_now=True, index=True)
    finished_at: datetime | None = utc_field(nullable=True)
    status: str = Field(default="running", max_length=16)  # running | completed | failed
    error: str = Field(default="")
    start: date = Field(sa_column=Column(Date, nullable=False))
    end: date = Field(sa_column=Column(Date, nullable=False))
    rebalance: str = Field(max_length=16)
    engine: str = Field(max_length=64)
    adaptive: bool = True
    data: str = Field(default="", max_length=255)  # provider name and folder
    starting_cash: float
    tickers: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    sessions: int = 0
    seconds: float = 0.0
    out_dir: str = Field(default="")
    metrics: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


@dataclass(frozen=True)
class FillWithOrder:
    timestamp: datetime
    symbol: str
    side: str
    quantity: float
    price: float
    fee: float
    client_order_id: str
    cycle_id: int | None


@dataclass(frozen=True)
class LLMUsage:
    calls: int  # answered by the model (not from the replay cache)
    cached: int  # answered from the replay cache
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float


def save_backtest(session: Session, row: BacktestRow) -> None:
    """Insert or update the run's row (same id)."""
    session.merge(row)


def get_backtest(session: Session, backtest_id: str) -> BacktestRow | None:
    return session.get(BacktestRow, backtest_id)


def latest_backtests(session: Session, limit: int = 10) -> list[BacktestRow]:
    statement = select(BacktestRow).order_by(col(BacktestRow.created_at).desc()).limit(limit)
    return list(session.exec(statement))


def fills_with_orders(session: Session) -> list[FillWithOrder]:
    """Every fill, oldest first, with the cycle that placed its order."""
    statement = (
        select(FillRow, OrderRow.cycle_id)
        .join(OrderRow, col(OrderRow.client_order_id) == col(FillRow.client_order_id))
        .order_by(col(FillRow.timestamp), col(FillRow.id))
    )
    return [
        FillWithOrder(
            timestamp=fill.timestamp,
            symbol=fill.symbol,
            side=fill.side,
            quantity=fill.quantity,
            price=fill.price,
            fee=fill.fee,
            client_order_id=fill.client_order_id,
            cycle_id=cycle_id,
        )
        for fill, cycle_id in session.exec(statement)
    ]


def order_counts(session: Session) -> dict[str, int]:
    """Orders by status (filled, rejected, submitted = still pending at the end, ...)."""
    statement = select(OrderRow.status, func.count(col(OrderRow.id))).group_by(OrderRow.status)
    return {status: int(count) for status, count in session.exec(statement)}


def llm_usage(session: Session, *, after_id: int = 0) -> LLMUsage:
    """Totals over the LLM call log rows with id > `after_id` (rows up to it were seeded)."""
    mine = col(LLMCallRow.id) > after_id
    calls, prompt, completion, cost = session.exec(
        select(
            func.count(col(LLMCallRow.id)),
            func.coalesce(func.sum(LLMCallRow.prompt_tokens), 0),
            func.coalesce(func.sum(LLMCallRow.completion_tokens), 0),
            func.coalesce(func.sum(LLMCallRow.cost_usd), 0.0),
        ).where(mine, col(LLMCallRow.cached).is_(False))
    ).one()
    cached = session.exec(
        select(func.count(col(LLMCallRow.id))).where(mine, col(LLMCallRow.cached).is_(True))
    ).one()
    return LLMUsage(int(calls), int(cached), int(prompt), int(completion), float(cost))


def llm_answers(session: Session, *, after_id: int = 0) -> list[LLMCallRow]:
    """Successful answers from the model (the replay cache's content) with id > `after_id`."""
    statement = (
        select(LLMCallRow)
        .where(col(LLMCallRow.id) > after_id, col(LLMCallRow.cached).is_(False))
        .where(col(LLMCallRow.response).is_not(None), LLMCallRow.error == "")
        .order_by(col(LLMCallRow.id))
    )
    return list(session.exec(statement))


def copy_llm_answers(rows: list[LLMCallRow], session: Session) -> int:
    """Insert copies of `rows` (new ids, detached from any cycle or chat); returns the highest
    id in the target afterwards (0 if empty), so later usage counts can leave the copies out."""
    for row in rows:
        data = row.model_dump(exclude={"id", "cycle_id", "chat_id"})
        session.add(LLMCallRow(**data))
    session.flush()
    highest = session.exec(select(func.max(col(LLMCallRow.id)))).one()
    return int(highest or 0)
