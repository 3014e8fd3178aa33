"""The `LLMClient` seam, the per-run `CallContext` and the `TokenBudget`.

Failure contract of every `LLMClient`:
- `structured()` never raises for a model that misbehaves: invalid JSON gets one repair attempt,
  then the task ABSTAINS (`StructuredResult.value is None`, `abstained_reason` says why). A call
  that fails after its retries (network, 429/5xx, timeouts) also abstains, with the error as reason.
- `chat()` raises `LLMError` when the endpoint fails after retries; the agent turns that into a
  clean stop with the reason.
- Both raise `BudgetExceeded` BEFORE sending a request that cannot fit the remaining budget of
  `context.budget`, so a run stops between steps and never half-way through an action.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from orchestrator.errors import BudgetExceeded

T = TypeVar("T")

OFFLINE_LABEL = "offline rules engine"
ENABLE_LLM_HINT = (
    "To use an LLM, set OPENAI_API_KEY (OpenAI) or OPENAI_BASE_URL (any OpenAI-compatible "
    "server such as vLLM, Ollama or llama.cpp) and optionally LLM_MODEL."
)


class TokenBudget:
    """A hard token limit shared by every call of one run (a cycle, or one chat question).

    Calls `reserve()` their estimated size before sending and `settle()` the real usage after,
    so concurrent calls (sentiment for ten tickers at once) cannot together overshoot the limit
    by more than their estimation error. Thread- and task-safe.
    """

    def __init__(self, limit: int, *, name: str = "token budget") -> None:
        if limit <= 0:
            raise ValueError("a token budget must be positive")
        self.limit = limit
        self.name = name
        self._spent = 0
        self._reserved = 0
        self._lock = threading.Lock()

    @property
    def spent(self) -> int:
        return self._spent

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self._spent - self._reserved)

    @property
    def exhausted(self) -> bool:
        return self.remaining <= 0

    def spend(self, tokens: int) -> None:
        """Count tokens that were used without a reservation (for example by a replayed call: 0)."""
        with self._lock:
            self._spent += max(0, tokens)

    def reserve(self, estimated_tokens: int) -> int:
        """Hold `estimated_tokens` for a call about to be made; raise `BudgetExceeded` if they
        do not fit. Returns the reservation to pass to `settle()`."""
        estimated_tokens = max(1, estimated_tokens)
        with self._lock:
            available = self.limit - self._spent - self._reserved
            if estimated_tokens > available:
                raise BudgetExceeded(
                    f"The {self.name} of {self.limit:,} tokens is reached "
                    f"({self._spent:,} used, next call needs about {estimated_tokens:,}); "
                    "the run stopped before making it. Raise the budget setting to allow more."
                )
            self._reserved += estimated_tokens
        return estimated_tokens

    def settle(self, reservation: int, actual_tokens: int) -> None:
        """Replace a reservation by the tokens the call really used."""
        with self._lock:
            self._reserved = max(0, self._reserved - reservation)
            self._spent += max(0, actual_tokens)

    def __repr__(self) -> str:
        return f"TokenBudget(limit={self.limit}, spent={self._spent}, reserved={self._reserved})"


@dataclass
class CallContext:
    """Who a call is for: the cycle or chat it belongs to, its budget, and the point in time."""

    cycle_id: int | None = None
    chat_id: str | None = None
    budget: TokenBudget | None = None
    as_of: datetime | None = None


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = False  # True when counted locally because the API sent no usage

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.estimated or other.estimated,
        )


@dataclass
class StructuredResult(Generic[T]):
    """A validated answer, or an abstention with its reason. Tokens and cost cover every attempt."""

    value: T | None
    abstained_reason: str | None = None
    engine: str = ""
    model: str = ""
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    cached: bool = False
    call_ids: list[int] = field(default_factory=list)

    @property
    def abstained(self) -> bool:
        return self.value is None

    @property
    def tokens(self) -> int:
        return self.usage.total_tokens


@dataclass
class ToolCallRequest:
    """One tool call the model asked for; `arguments` is the raw JSON text (may be invalid)."""

    id: str
    name: str
    arguments: str


@dataclass
class ChatReply:
    """One chat completion: text and/or tool calls, with its accounting."""

    content: str | None
    tool_calls: list[ToolCallRequest] = field(default_factory=list)
    engine: str = ""
    model: str = ""
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    cached: bool = False
    finish_reason: str = ""
    call_id: int | None = None

    def assistant_message(self) -> dict[str, Any]:
        """This reply as an OpenAI-format assistant message, to append to the conversation."""
        message: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in self.tool_calls
            ]
        return message


@runtime_checkable
class LLMClient(Protocol):
    """A model (or the offline rules engine) behind one interface. See the module contract."""

    @property
    def offline(self) -> bool:
        """True for the offline rules engine (no network)."""
        ...

    @property
    def label(self) -> str:
        """What answered: a model name, or "offline rules engine"."""
        ...

    async def structured(
        self,
        task: str,
        *,
        template: str,
        variables: dict[str, Any],
        schema: type[T],
        context: CallContext,
    ) -> StructuredResult[T]:
        """Render `prompts/<template>.j2` with `variables`, ask the model routed for `task`, and
        validate the JSON answer against `schema` (one repair attempt), else abstain."""
        ...

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
        """One chat completion with optional tools (OpenAI message and tool formats).
        `template`/`template_version` name the system prompt's template for the call log."""
        ...
