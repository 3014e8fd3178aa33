"""LLM services: answer a question with the agent (`ask`), the call log, today's LLM costs.

Faces call these; they return view models. `ask` never raises for model or tool trouble (the
agent stops cleanly and says why); configuration problems raise `ConfigError`.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import Engine
from sqlmodel import Session

from orchestrator.agent import AgentResult, run_agent
from orchestrator.config import Settings, get_settings
from orchestrator.errors import NotFoundError
from orchestrator.llm import (
    ENABLE_LLM_HINT,
    CallContext,
    LLMClient,
    TokenBudget,
    llm_for_call,
    memory,
)
from orchestrator.service.views import AnswerView, CostView
from orchestrator.store.db import get_engine, session_scope
from orchestrator.store.llm import LLMCallRow, cost_by_task, llm_call_by_id, recent_llm_calls
from orchestrator.tools import ToolContext, ToolRegistry, default_registry

log = logging.getLogger(__name__)


class ToolCallView(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    arguments: str
    ok: bool
    acting: bool
    duration_ms: float
    result_preview: str


class AskView(AnswerView):
    """An agent answer with its trace. `hint` says how to enable an LLM when offline."""

    offline: bool = False
    hint: str = ""
    tool_calls: tuple[ToolCallView, ...] = ()
    prompt_tokens: int = 0
    completion_tokens: int = 0
    steps: int = 0
    stopped_reason: str | None = None
    seconds: float = 0.0


class LLMCallView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    created_at: datetime
    task: str
    model: str
    endpoint_host: str
    template: str
    template_version: str
    prompt_tokens: int
    completion_tokens: int
    tokens_estimated: bool
    cost_usd: float
    latency_ms: float
    retries: int
    cached: bool
    cycle_id: int | None
    chat_id: str | None
    error: str


class LLMCallDetail(LLMCallView):
    request: dict[str, Any]
    response: dict[str, Any] | None


def _market_data(settings: Settings, engine: Engine) -> Any:
    from orchestrator.data import build_market_data

    return build_market_data(settings, engine)


def tools_for(registry: ToolRegistry, *, allow_actions: bool) -> ToolRegistry:
    """Read-only tools, plus acting ones only when the caller may act."""
    names = [n for n in registry.names() if allow_actions or not registry.is_acting(n)]
    return registry.subset(names)


async def ask(
    question: str,
    *,
    chat_id: str | None = None,
    user_is_admin: bool = False,
    allow_actions: bool = False,
    settings: Settings | None = None,
    engine: Engine | None = None,
    llm: LLMClient | None = None,
    registry: ToolRegistry | None = None,
    market_data: Any = None,
    broker: Any = None,
    knowledge: Any = None,
    as_of: datetime | None = None,
    extras: dict[str, Any] | None = None,
) -> AskView:
    """One agent run on `question`. With `chat_id`, earlier turns of that chat are remembered.

    Acting tools (orders, approvals) are offered only with `allow_actions=True`; risk limits and
    confirmations still apply inside them. `as_of` defaults to now, or with DATA_PROVIDER=offline
    to the bundled sample's last close (2015-12-31). The run is capped by
    LLM_CHAT_TURN_TOKEN_BUDGET and LLM_MAX_AGENT_STEPS.
    """
    settings = settings or get_settings()
    engine = engine or get_engine(settings)
    # The agent's client also serves its tools (one set of connections), and is closed
    # after the turn when it was built here.
    async with llm_for_call(settings, engine, llm) as agent_llm:
        if as_of is None and market_data is None and settings.data_provider == "offline":
            # The bundled sample ends in 2015: "now" for it is its last close, as in the demo.
            from orchestrator.data.offline import sample_end_as_of

            as_of = sample_end_as_of()
        tools = tools_for(registry or default_registry(), allow_actions=allow_actions)
        ctx = ToolContext(
            settings=settings,
            engine=engine,
            market_data=market_data if market_data is not None else _market_data(settings, engine),
            as_of=as_of or datetime.now(UTC),
            chat_id=chat_id,
            user_is_admin=user_is_admin,
            broker=broker,
            knowledge=knowledge,
            extras={"llm": agent_llm, **(extras or {})},
        )
        history = []
        if chat_id:
            history = await memory.load_history(
                engine, chat_id, context_tokens=settings.llm_context_tokens
            )
        budget = TokenBudget(settings.llm_chat_turn_token_budget, name="chat-turn token budget")
        result = await run_agent(
            agent_llm,
            tools,
            ctx,
            question=question,
            history=history,
            call_context=CallContext(chat_id=chat_id, budget=budget, as_of=ctx.as_of),
            max_steps=settings.llm_max_agent_steps,
        )
        if chat_id and result.completed:
            await memory.save_exchange(engine, chat_id, question, result.answer)
        return ask_view(result)


def ask_view(result: AgentResult) -> AskView:
    calls = tuple(
        ToolCallView(
            name=call.name,
            arguments=call.arguments,
            ok=call.ok,
            acting=call.acting,
            duration_ms=round(call.duration_ms, 1),
            result_preview=call.result[:200],
        )
        for call in result.tool_calls
    )
    return AskView(
        text=result.answer,
        engine=result.engine,
        tools_used=tuple(dict.fromkeys(call.name for call in calls)),
        tokens=result.usage.total_tokens,
        cost_usd=result.cost_usd,
        offline=result.offline,
        hint=ENABLE_LLM_HINT if result.offline else "",
        tool_calls=calls,
        prompt_tokens=result.usage.prompt_tokens,
        completion_tokens=result.usage.completion_tokens,
        steps=len(result.steps),
        stopped_reason=result.stopped_reason,
        seconds=round(result.wall_ms / 1000, 3),
    )


async def forget_chat(chat_id: str, *, engine: Engine | None = None) -> int:
    """Drop a chat's memory; returns how many messages were deleted."""
    return await memory.forget(engine or get_engine(), chat_id)


def _view(row: LLMCallRow) -> dict[str, Any]:
    return row.model_dump(exclude={"request", "response", "request_hash"})


def recent_calls(
    last: int = 20, *, task: str | None = None, engine: Engine | None = None
) -> list[LLMCallView]:
    """The newest LLM calls, newest first."""
    with session_scope(engine or get_engine()) as session:
        rows = recent_llm_calls(session, last, task=task)
        return [LLMCallView.model_validate(_view(row)) for row in rows]


def call_detail(call_id: int, *, engine: Engine | None = None) -> LLMCallDetail:
    """One call with its full request and response JSON."""
    with session_scope(engine or get_engine()) as session:
        row = llm_call_by_id(session, call_id)
        if row is None:
            raise NotFoundError(f"No LLM call with id {call_id}; see `fingpt llm calls`.")
        return LLMCallDetail.model_validate(
            {**_view(row), "request": row.request, "response": row.response}
        )


def cost_today(*, engine: Engine | None = None, now: datetime | None = None) -> CostView:
    """Tokens, cost and calls since midnight UTC, with the cost per task."""
    now = now or datetime.now(UTC)
    with session_scope(engine or get_engine()) as session:
        return cost_today_in(session, now)


def cost_today_in(session: Session, now: datetime) -> CostView:
    """`cost_today` inside a caller's session, for a facade call that reads more with it."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    rows = cost_by_task(session, midnight, until=midnight + timedelta(days=1))
    return CostView(
        today_tokens=sum(int(r.tokens or 0) for r in rows),
        today_cost_usd=sum(float(r.cost_usd or 0.0) for r in rows),
        today_calls=sum(int(r.calls) for r in rows),
        by_task={r.task: float(r.cost_usd or 0.0) for r in rows},
    )
