"""The offline rules engine: the `LLMClient` interface with no model and no network.

Structured tasks: the area that owns a task registers a deterministic handler with
`register_offline_handler(task, handler)`; `handler(variables, schema)` gets the same variables the
prompt template would and returns an instance of `schema` computed from the quantitative signals
(the analysis area registers "sentiment" and "forecast", the cycle "decision"). A task without a
handler, or a handler that raises, ABSTAINS with the reason, exactly like a model that fails.

Chat: the plain requests of `offline_chat.INTENTS` ("price of AAPL", "news on TSLA", "how is my
portfolio", "forecast for MSFT", "help") become the same tool calls a model would make; once the
tool results are back, they are formatted into an answer. Everything is labelled as coming from the
offline engine, with a line on how to enable an LLM. Uses no tokens and costs nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import TypeAdapter

from orchestrator.llm import offline_chat
from orchestrator.llm.base import OFFLINE_LABEL, CallContext, ChatReply, StructuredResult

log = logging.getLogger(__name__)

T = TypeVar("T")
OfflineHandler = Callable[[dict[str, Any], type[Any]], Any]

_HANDLERS: dict[str, OfflineHandler] = {}


def register_offline_handler(task: str, handler: OfflineHandler) -> OfflineHandler:
    """Give `task` a deterministic offline answer; re-registering replaces it. Returns `handler`.

    The handler's result is validated against the schema; a result that fails validation, or a
    handler that raises, makes the task abstain with the reason.
    """
    _HANDLERS[task] = handler
    return handler


def offline_handler_for(task: str) -> OfflineHandler | None:
    return _HANDLERS.get(task)


class OfflineEngine:
    """See the module docstring. `known_symbols` helps read lower-case tickers in chat."""

    def __init__(self, known_symbols: list[str] | None = None) -> None:
        self.known_symbols = {s.upper() for s in known_symbols or ()}

    @property
    def offline(self) -> bool:
        return True

    @property
    def label(self) -> str:
        return OFFLINE_LABEL

    async def structured(
        self,
        task: str,
        *,
        template: str,
        variables: dict[str, Any],
        schema: type[T],
        context: CallContext,
    ) -> StructuredResult[T]:
        handler = _HANDLERS.get(task)
        if handler is None:
            return StructuredResult(
                value=None,
                abstained_reason=(
                    f"the offline rules engine has no rule for the {task!r} task; "
                    "configure an LLM (OPENAI_API_KEY or OPENAI_BASE_URL) to run it"
                ),
                engine=OFFLINE_LABEL,
                model=OFFLINE_LABEL,
            )
        try:
            answer = handler(dict(variables), schema)
            value = TypeAdapter(schema).validate_python(answer)
        except LookupError as exc:  # a rule that has no answer for this input: a plain abstention
            return StructuredResult(
                value=None,
                abstained_reason=f"the offline {task} rule abstains: {exc}",
                engine=OFFLINE_LABEL,
                model=OFFLINE_LABEL,
            )
        except Exception as exc:  # a rule that fails abstains, like a model that fails
            log.warning("offline %s rule failed", task, exc_info=True)
            return StructuredResult(
                value=None,
                abstained_reason=f"the offline {task} rule failed: {type(exc).__name__}: {exc}",
                engine=OFFLINE_LABEL,
                model=OFFLINE_LABEL,
            )
        return StructuredResult(value=value, engine=OFFLINE_LABEL, model=OFFLINE_LABEL)

    async def chat(
        self,
        task: str,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]] | None = None,
        context: CallContext,
        template: str = "",
        template_version: str = "",
    ) -> ChatReply:
        content, calls = offline_chat.respond(messages, tools or [], self.known_symbols)
        return ChatReply(
            content=content,
            tool_calls=calls,
            engine=OFFLINE_LABEL,
            model=OFFLINE_LABEL,
            finish_reason="tool_calls" if calls else "stop",
        )
