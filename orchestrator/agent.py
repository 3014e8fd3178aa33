"""The tool-calling agent loop: ask the model, run the tools it asks for, repeat, answer.

One `run_agent()` serves the chat, `fingpt ask` and the cycle's decision step. Each step is one
model call; the tool calls of one step run concurrently (`asyncio.gather`), each through the
registry, which turns every failure into a short "error: ..." result the model can read and fix.

Stops, always cleanly, with `AgentResult.stopped_reason` saying why:
- "budget": the next model call would not fit the token budget. The check runs before a step's
  tools execute, so a step's actions either run AND get reported back, or do not run at all
  (no half-applied actions).
- "max_steps": `max_steps` model calls were made without a final answer.
- "llm_error": the endpoint failed after its retries.
Failure contract: never raises for model, tool or budget problems; only cancellation propagates.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from orchestrator.errors import BudgetExceeded, LLMError
from orchestrator.llm.accounting import count_message_tokens
from orchestrator.llm.base import CallContext, ChatReply, LLMClient, ToolCallRequest, Usage
from orchestrator.llm.calls import COMPLETION_RESERVE_TOKENS
from orchestrator.llm.prompts import render_text
from orchestrator.tools.registry import UNTRUSTED_NOTICE, ToolContext, ToolRegistry

CHAT_SYSTEM_TEMPLATE = "chat_system"


@dataclass
class ToolTrace:
    """One tool call as it happened."""

    step: int
    id: str
    name: str
    arguments: str
    result: str
    ok: bool
    acting: bool
    started_ms: float  # since the run started
    duration_ms: float


@dataclass
class StepTrace:
    index: int
    usage: Usage
    latency_ms: float
    cached: bool
    tool_calls: list[ToolTrace] = field(default_factory=list)


@dataclass
class AgentResult:
    answer: str
    engine: str
    offline: bool
    steps: list[StepTrace] = field(default_factory=list)
    stopped_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    wall_ms: float = 0.0
    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def tool_calls(self) -> list[ToolTrace]:
        return [call for step in self.steps for call in step.tool_calls]

    @property
    def completed(self) -> bool:
        return self.stopped_reason is None


def system_prompt(registry: ToolRegistry, as_of: datetime | None, **extra: Any) -> tuple[str, str]:
    """The chat system prompt (`prompts/chat_system.j2`) and its version hash."""
    names = registry.names()
    variables = {
        "as_of": as_of,
        "tool_names": names,
        "untrusted_notice": UNTRUSTED_NOTICE,
        "can_act": any(registry.is_acting(name) for name in names),
        **extra,
    }
    return render_text(CHAT_SYSTEM_TEMPLATE, variables)


async def run_agent(
    llm: LLMClient,
    registry: ToolRegistry,
    ctx: ToolContext,
    *,
    question: str,
    call_context: CallContext,
    history: list[dict[str, Any]] | None = None,
    task: str = "chat",
    max_steps: int = 8,
    system: tuple[str, str] | None = None,
    system_template: str = CHAT_SYSTEM_TEMPLATE,
) -> AgentResult:
    """Answer `question` with the tools of `registry`. See the module docstring for the stops.

    Returns once the client's call log holds every call of the run (`flush()` if it has one).

    `history` is earlier conversation (user/assistant messages) placed before the question;
    `system` is a ready (text, version) system prompt, else the chat system template is used.
    """
    try:
        return await _run(
            llm, registry, ctx, question=question, call_context=call_context, history=history,
            task=task, max_steps=max_steps, system=system, system_template=system_template,
        )  # fmt: skip
    finally:
        flush = getattr(llm, "flush", None)
        if flush is not None:
            await flush()


async def _run(
    llm: LLMClient,
    registry: ToolRegistry,
    ctx: ToolContext,
    *,
    question: str,
    call_context: CallContext,
    history: list[dict[str, Any]] | None,
    task: str,
    max_steps: int,
    system: tuple[str, str] | None,
    system_template: str,
) -> AgentResult:
    started = time.perf_counter()
    system_text, version = system or system_prompt(registry, ctx.as_of or datetime.now(UTC))
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": system_text},
        *(history or []),
        {"role": "user", "content": question},
    ]
    tools = registry.schemas() or None
    result = AgentResult(answer="", engine=llm.label, offline=llm.offline, messages=messages)

    for index in range(max_steps):
        try:
            reply = await llm.chat(
                task, messages, tools=tools, context=call_context,
                template=system_template, template_version=version,
            )  # fmt: skip
        except BudgetExceeded as exc:
            return _stop(result, started, "budget", str(exc))
        except LLMError as exc:
            return _stop(result, started, "llm_error", f"The model call failed: {exc}")
        step = StepTrace(index, reply.usage, reply.latency_ms, reply.cached)
        result.steps.append(step)
        result.usage = result.usage + reply.usage
        result.cost_usd += reply.cost_usd
        result.engine = reply.engine or result.engine
        if not reply.tool_calls:
            result.answer = (reply.content or "").strip() or "(the model gave an empty answer)"
            result.wall_ms = (time.perf_counter() - started) * 1000
            return result
        if not _next_call_fits(call_context, messages, reply, tools):
            return _stop(
                result, started, "budget",
                "The token budget would run out before I could report the results, so I did "
                "not run the requested tools (nothing was changed).",
            )  # fmt: skip
        messages.append(reply.assistant_message())
        step.tool_calls = await _run_tools(registry, ctx, reply.tool_calls, index, started)
        messages.extend(
            {"role": "tool", "tool_call_id": call.id, "content": call.result}
            for call in step.tool_calls
        )
    done = ", ".join(sorted({call.name for call in result.tool_calls})) or "none"
    return _stop(
        result, started, "max_steps",
        f"I stopped after {max_steps} steps (LLM_MAX_AGENT_STEPS) without a final answer. "
        f"Tools used: {done}.",
    )  # fmt: skip


def _next_call_fits(
    call_context: CallContext,
    messages: list[dict[str, Any]],
    reply: ChatReply,
    tools: list[dict[str, Any]] | None,
) -> bool:
    budget = call_context.budget
    if budget is None:
        return True
    # Tool results are not known yet; the follow-up needs at least today's conversation.
    needed = count_message_tokens([*messages, reply.assistant_message()], tools=tools)
    return needed + COMPLETION_RESERVE_TOKENS <= budget.remaining


async def _run_tools(
    registry: ToolRegistry,
    ctx: ToolContext,
    calls: list[ToolCallRequest],
    step: int,
    run_started: float,
) -> list[ToolTrace]:
    async def run_one(call: ToolCallRequest) -> ToolTrace:
        begun = time.perf_counter()
        output = await registry.execute(call.name, call.arguments, ctx)
        ended = time.perf_counter()
        return ToolTrace(
            step=step,
            id=call.id,
            name=call.name,
            arguments=call.arguments,
            result=output,
            ok=not output.startswith("error:"),
            acting=registry.is_acting(call.name),
            started_ms=(begun - run_started) * 1000,
            duration_ms=(ended - begun) * 1000,
        )

    return list(await asyncio.gather(*(run_one(call) for call in calls)))


def _stop(result: AgentResult, started: float, reason: str, message: str) -> AgentResult:
    result.stopped_reason = reason
    result.answer = message
    result.wall_ms = (time.perf_counter() - started) * 1000
    return result


def trace_summary(result: AgentResult) -> list[dict[str, Any]]:
    """The trace as plain data (for logs and the cycle record)."""
    return [
        {
            "step": call.step,
            "tool": call.name,
            "arguments": _maybe_json(call.arguments),
            "ok": call.ok,
            "acting": call.acting,
            "duration_ms": round(call.duration_ms, 1),
            "result_chars": len(call.result),
        }
        for call in result.tool_calls
    ]


def _maybe_json(text: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return text
