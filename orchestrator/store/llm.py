"""The `llm_call` log (also the replay cache) and the `chat_message` memory."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Row, Text, bindparam, func
from sqlalchemy import select as core_select
from sqlmodel import Field, Session, SQLModel, col, select

from orchestrator.store.base import utc_field


class LLMCallRow(SQLModel, table=True):
    """One request to a model (or one replayed answer), with everything needed to audit it."""

    __tablename__ = "llm_call"

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = utc_field(default_now=True, index=True)
    task: str = Field(max_length=32, index=True)
    model: str = Field(max_length=128)
    endpoint_host: str = Field(default="", max_length=255)
    template: str = Field(default="", max_length=64)
    template_version: str = Field(default="", max_length=16)
    # sha256 of the canonical request (model, messages, tools, parameters): the replay-cache key.
    request_hash: str = Field(max_length=64, index=True)
    request: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    response: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tokens_estimated: bool = False
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    retries: int = 0
    cached: bool = False  # answered from the replay cache (no network, no new tokens)
    cycle_id: int | None = Field(default=None, index=True)
    chat_id: str | None = Field(default=None, max_length=64, index=True)
    error: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class ChatMessageRow(SQLModel, table=True):
    """One turn of a conversation (the question or the final answer) for per-chat memory."""

    __tablename__ = "chat_message"

    id: int | None = Field(default=None, primary_key=True)
    chat_id: str = Field(max_length=64, index=True)
    role: str = Field(max_length=16)  # user | assistant
    content: str = Field(sa_column=Column(Text, nullable=False))
    tokens: int = 0
    created_at: datetime = utc_field(default_now=True)


@dataclass(frozen=True)
class ChatTurn:
    role: str
    content: str
    tokens: int


def add_llm_call(session: Session, row: LLMCallRow) -> int:
    session.add(row)
    session.flush()
    assert row.id is not None
    return row.id


def find_replay(session: Session, request_hash: str) -> LLMCallRow | None:
    """The newest successful call with this exact request, if any."""
    statement = (
        select(LLMCallRow)
        .where(LLMCallRow.request_hash == request_hash)
        .where(col(LLMCallRow.response).is_not(None))
        .where(LLMCallRow.error == "")
        .order_by(col(LLMCallRow.id).desc())
        .limit(1)
    )
    return session.exec(statement).first()


def recent_llm_calls(
    session: Session, limit: int = 20, *, task: str | None = None
) -> list[LLMCallRow]:
    statement = select(LLMCallRow).order_by(col(LLMCallRow.id).desc()).limit(limit)
    if task:
        statement = statement.where(LLMCallRow.task == task)
    return list(session.exec(statement))


def add_chat_turn(session: Session, chat_id: str, role: str, content: str, tokens: int) -> None:
    session.add(ChatMessageRow(chat_id=chat_id, role=role, content=content, tokens=tokens))


def recent_chat_turns(session: Session, chat_id: str, *, max_tokens: int) -> list[ChatTurn]:
    """The newest turns of a chat whose tokens fit `max_tokens`, oldest first."""
    statement = (
        select(ChatMessageRow)
        .where(ChatMessageRow.chat_id == chat_id)
        .order_by(col(ChatMessageRow.id).desc())
        .limit(200)
    )
    kept: list[ChatTurn] = []
    used = 0
    for row in session.exec(statement):
        if used + row.tokens > max_tokens:
            break
        used += row.tokens
        kept.append(ChatTurn(row.role, row.content, row.tokens))
    kept.reverse()
    # A conversation must not open with an orphan answer whose question was trimmed away.
    while kept and kept[0].role != "user":
        kept.pop(0)
    return kept


def clear_chat(session: Session, chat_id: str) -> int:
    rows = list(session.exec(select(ChatMessageRow).where(ChatMessageRow.chat_id == chat_id)))
    for row in rows:
        session.delete(row)
    return len(rows)


def llm_call_by_id(session: Session, call_id: int) -> LLMCallRow | None:
    return session.get(LLMCallRow, call_id)


_call = LLMCallRow.__table__  # type: ignore[attr-defined]
_COST_BY_TASK = (
    core_select(
        _call.c.task,
        func.count().label("calls"),
        func.sum(_call.c.prompt_tokens + _call.c.completion_tokens).label("tokens"),
        func.sum(_call.c.cost_usd).label("cost_usd"),
    )
    .where(_call.c.created_at >= bindparam("since"), _call.c.created_at < bindparam("until"))
    .group_by(_call.c.task)
)


def cost_by_task(session: Session, since: datetime, *, until: datetime) -> list[Row[Any]]:
    """(task, calls, tokens, cost_usd) of the calls made in [since, until), one row per task,
    summed by the database (loading the rows would load every call's request and response)."""
    return list(session.connection().execute(_COST_BY_TASK, {"since": since, "until": until}))
