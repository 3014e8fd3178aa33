"""The LLM layer: one `LLMClient` interface over an OpenAI-compatible endpoint or the offline
rules engine, with per-task routing, budgets, a call log and a replay cache.

    llm = build_llm(settings, engine)
    result = await llm.structured("sentiment", template="sentiment", variables={...},
                                  schema=SentimentAnswer, context=CallContext(cycle_id=7,
                                  budget=TokenBudget(settings.llm_cycle_token_budget)))
    if result.value is None: ...  # abstained; result.abstained_reason says why
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from orchestrator.config import Settings
from orchestrator.llm.base import (
    ENABLE_LLM_HINT,
    OFFLINE_LABEL,
    CallContext,
    ChatReply,
    LLMClient,
    StructuredResult,
    TokenBudget,
    ToolCallRequest,
    Usage,
)
from orchestrator.llm.offline import OfflineEngine, offline_handler_for, register_offline_handler
from orchestrator.llm.prompts import RenderedPrompt, render_prompt

__all__ = [
    "ENABLE_LLM_HINT",
    "OFFLINE_LABEL",
    "CallContext",
    "ChatReply",
    "LLMClient",
    "OfflineEngine",
    "RenderedPrompt",
    "StructuredResult",
    "TokenBudget",
    "ToolCallRequest",
    "Usage",
    "build_llm",
    "llm_for_call",
    "offline_handler_for",
    "register_offline_handler",
    "render_prompt",
]


def build_llm(settings: Settings, engine: Any = None, **options: Any) -> LLMClient:
    """The configured client: `OpenAIClient` when OPENAI_API_KEY or OPENAI_BASE_URL is set
    (`settings.llm_enabled`), else the offline rules engine. `engine` (a SQLAlchemy engine, may
    be None) holds the call log and the replay cache; `options` go to `OpenAIClient`."""
    if settings.llm_enabled:
        from orchestrator.llm.openai_client import OpenAIClient

        return OpenAIClient(settings, engine, **options)
    return OfflineEngine(known_symbols=list(settings.universe))


@contextlib.asynccontextmanager
async def llm_for_call(
    settings: Settings, engine: Any = None, llm: LLMClient | None = None
) -> AsyncIterator[LLMClient]:
    """`llm` when the caller has one; else a client built for this one use and closed after it,
    so its HTTP connections are not left open for the garbage collector."""
    if llm is not None:
        yield llm
        return
    built = build_llm(settings, engine)
    try:
        yield built
    finally:
        close = getattr(built, "close", None)
        if close is not None:
            await close()
