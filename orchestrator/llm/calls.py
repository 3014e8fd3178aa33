"""One accounted request to an OpenAI-compatible endpoint: budget, replay cache, retries, call log.

`CallRunner.complete()` is the only place that talks to the network. For each logical call it:
1. hashes the canonical request (model, messages, tools, parameters) - the replay-cache key;
2. with `LLM_CACHE=replay`, answers from the newest stored identical request if there is one
   (no network, 0 new tokens, logged as a cached row);
3. reserves the estimated tokens on the budget, raising `BudgetExceeded` before sending if they
   do not fit;
4. sends with retries and exponential backoff (honouring Retry-After) on 408/409/429/5xx,
   timeouts and connection errors; every retry is logged and counted on the row;
5. records one `llm_call` row (request, response or error, tokens, cost, latency, retries); for
   chat calls the row is written in the background while the agent runs its tools.

Failure contract: raises `LLMError` when the endpoint fails for good (after retries, or at once on
4xx such as a bad key or unknown model); raises `BudgetExceeded` as above. Writing the call log
is best effort: a database failure is logged and never fails the call.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from sqlalchemy.engine import Engine

from orchestrator.errors import LLMError
from orchestrator.llm.accounting import PriceTable, count_message_tokens, count_text_tokens
from orchestrator.llm.base import CallContext, Usage
from orchestrator.store.batch import batcher_for
from orchestrator.store.db import session_scope
from orchestrator.store.llm import LLMCallRow, add_llm_call, find_replay

if TYPE_CHECKING:  # the SDK takes ~1 s to import; offline runs and `fingpt data` never need it
    from openai import AsyncOpenAI
    from openai.types.chat import ChatCompletion

log = logging.getLogger(__name__)

# Tokens held for the answer when checking the budget before a call (a typical tool-calling or
# JSON reply is 50-300 tokens); the real usage replaces the hold once the reply is in.
COMPLETION_RESERVE_TOKENS = 256
RETRY_CAP_SECONDS = 20.0
_RETRYABLE_STATUS = {408, 409, 429}


@dataclass
class Endpoint:
    """Where a task's requests go."""

    model: str
    base_url: str | None
    client: AsyncOpenAI

    @property
    def host(self) -> str:
        return urlparse(self.base_url).netloc if self.base_url else "api.openai.com"


@dataclass
class CallOutcome:
    completion: ChatCompletion
    usage: Usage
    cost_usd: float
    latency_ms: float
    cached: bool
    call_id: int | None
    retries: int = 0
    model: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def request_hash(request: dict[str, Any]) -> str:
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _hash_and_count(request: dict[str, Any]) -> tuple[str, int]:
    """The replay-cache key and the prompt's token count of `request`."""
    tokens = count_message_tokens(request["messages"], request["model"], request.get("tools"))
    return request_hash(request), tokens


async def _create_chat_completion(client: Any, request: dict[str, Any]) -> ChatCompletion:
    """`chat.completions.create(**request)`, minus the SDK's parameter transform.

    `create` walks every message against the SDK's TypedDict annotations before posting the
    same JSON body; for our requests (plain JSON dicts built here) that walk changes nothing,
    and it cost 1-2 ms a call, a large part of our CPU per call with 50 tickers in flight. The
    SDK's own `post` sends the body as is and parses the reply into the same `ChatCompletion`,
    with the same errors, headers, auth and timeouts."""
    from openai.types.chat import ChatCompletion

    return await client.post("/chat/completions", body=request, cast_to=ChatCompletion)  # type: ignore[no-any-return]


def _retryable(exc: Exception) -> bool:
    import openai

    if isinstance(exc, openai.APITimeoutError | openai.APIConnectionError):
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in _RETRYABLE_STATUS or exc.status_code >= 500
    return False


def _retry_after(exc: Exception) -> float | None:
    response = getattr(exc, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return min(float(value), RETRY_CAP_SECONDS) if value is not None else None
    except ValueError:
        return None


def _describe(exc: Exception) -> str:
    import openai

    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}: {str(exc.message)[:300]}"
    return f"{type(exc).__name__}: {str(exc)[:300]}"


class CallRunner:
    """Runs accounted calls; shared by every task of one `OpenAIClient`."""

    def __init__(
        self,
        *,
        engine: Engine | None,
        cache_mode: str,
        max_retries: int,
        prices: PriceTable,
        retry_base_seconds: float = 0.5,
    ) -> None:
        self.engine = engine
        self.cache_mode = cache_mode
        self.max_retries = max_retries
        self.prices = prices
        self.retry_base_seconds = retry_base_seconds
        # Call-log writes still running in the default executor (see `complete(background_log=)`).
        self._pending: list[asyncio.Future[int | None]] = []

    async def complete(
        self,
        task: str,
        endpoint: Endpoint,
        request: dict[str, Any],
        context: CallContext,
        *,
        template: str = "",
        template_version: str = "",
        background_log: bool = False,
    ) -> CallOutcome:
        """See the module docstring. With `background_log`, a successful call's log row is
        written while the caller goes on (the agent runs its tools meanwhile) and the outcome's
        `call_id` is None; `flush()` waits for such writes, and every call waits for the previous
        ones first, so the log keeps its order and the replay cache sees earlier answers."""
        import openai

        await self.flush()
        # Off the event loop: tiktoken and sha256 release the interpreter lock, so with many
        # tickers in flight the count runs on the other core (~2 ms a 2,500-token prompt) while
        # the loop sends and receives other calls.
        key, estimate = await asyncio.to_thread(_hash_and_count, request)
        row = LLMCallRow(
            task=task,
            model=endpoint.model,
            endpoint_host=endpoint.host,
            template=template,
            template_version=template_version,
            request_hash=key,
            request=request,
            cycle_id=context.cycle_id,
            chat_id=context.chat_id,
        )
        if self.cache_mode == "replay" and self.engine is not None:
            replayed = await asyncio.to_thread(self._lookup, key)
            if replayed is not None:
                return await self._replay(row, replayed)

        model = request["model"]
        reservation = 0
        if context.budget is not None:
            reservation = context.budget.reserve(estimate + COMPLETION_RESERVE_TOKENS)
        started = time.perf_counter()
        retries = 0
        try:
            while True:
                try:
                    completion = await _create_chat_completion(endpoint.client, request)
                    break
                except openai.APIError as exc:
                    if not _retryable(exc) or retries >= self.max_retries:
                        raise
                    delay = _retry_after(exc)
                    if delay is None:
                        delay = min(
                            RETRY_CAP_SECONDS,
                            self.retry_base_seconds * 2**retries * random.uniform(0.5, 1.0),
                        )
                    retries += 1
                    log.warning(
                        "LLM %s call to %s failed (%s); retry %d/%d in %.2fs",
                        task, endpoint.host, _describe(exc), retries, self.max_retries, delay,
                    )  # fmt: skip
                    await asyncio.sleep(delay)
        except openai.APIError as exc:
            if context.budget is not None:
                context.budget.settle(reservation, 0)
            row.error = _describe(exc)
            row.retries = retries
            row.latency_ms = (time.perf_counter() - started) * 1000
            await self._record(row)
            raise LLMError(
                f"The {task} model {model} at {endpoint.host} failed after {retries} "
                f"retries: {row.error}"
            ) from exc
        latency_ms = (time.perf_counter() - started) * 1000
        usage = self._usage(completion, request, estimate)
        if context.budget is not None:
            context.budget.settle(reservation, usage.total_tokens)
        cost = self.prices.cost(
            completion.model or model, usage.prompt_tokens, usage.completion_tokens
        )
        row.response = completion.model_dump(mode="json", exclude_unset=True)
        row.prompt_tokens = usage.prompt_tokens
        row.completion_tokens = usage.completion_tokens
        row.tokens_estimated = usage.estimated
        row.cost_usd = cost
        row.latency_ms = latency_ms
        row.retries = retries
        call_id = None
        if background_log and self.engine is not None:
            # Written by the batcher's executor job, not a task: loop shutdown (asyncio.run)
            # waits for executor jobs but cancels tasks, so the row is stored even if nobody
            # awaits it.
            self._pending.append(self._submit(row))
        else:
            call_id = await self._record(row)
        return CallOutcome(
            completion, usage, cost, latency_ms, False, call_id, retries, completion.model or model
        )

    def _usage(self, completion: ChatCompletion, request: dict[str, Any], estimate: int) -> Usage:
        if completion.usage is not None:
            return Usage(completion.usage.prompt_tokens, completion.usage.completion_tokens)
        # Some local servers send no usage: count it ourselves, and say so on the row.
        completion_tokens = 0
        for choice in completion.choices:
            completion_tokens += count_text_tokens(choice.message.content or "", request["model"])
            for call in choice.message.tool_calls or ():
                function = getattr(call, "function", None)
                if function is not None:
                    completion_tokens += count_text_tokens(function.name + function.arguments)
        return Usage(estimate, completion_tokens, estimated=True)

    def _lookup(self, key: str) -> dict[str, Any] | None:
        try:
            with session_scope(self.engine) as session:  # type: ignore[arg-type]
                found = find_replay(session, key)
                return dict(found.response) if found is not None and found.response else None
        except Exception:
            log.warning("replay-cache lookup failed; calling the model", exc_info=True)
            return None

    async def _replay(self, row: LLMCallRow, stored: dict[str, Any]) -> CallOutcome:
        from openai.types.chat import ChatCompletion

        completion = ChatCompletion.model_validate(stored)
        row.response = stored
        row.cached = True
        call_id = await self._record(row)
        log.debug("LLM %s answered from the replay cache", row.task)
        return CallOutcome(completion, Usage(), 0.0, 0.0, True, call_id, 0, row.model)

    async def flush(self) -> None:
        """Wait until every call-log row written in the background is stored."""
        while self._pending:
            pending, self._pending = self._pending, []
            await asyncio.gather(*pending)

    async def _record(self, row: LLMCallRow) -> int | None:
        if self.engine is None:
            return None
        return await self._submit(row)

    def _submit(self, row: LLMCallRow) -> asyncio.Future[int | None]:
        """The row joins the next batched transaction (`store.batch`): concurrent tickers make
        many calls, and a session per row cost more CPU than the insert."""
        outcome: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        assert self.engine is not None
        written = batcher_for(self.engine).submit(lambda session: add_llm_call(session, row))

        def report(done: asyncio.Future[int]) -> None:
            if outcome.done():
                return
            if done.cancelled() or done.exception() is not None:
                error = None if done.cancelled() else done.exception()
                log.error("could not write the llm_call log row", exc_info=error)
                outcome.set_result(None)
            else:
                outcome.set_result(done.result())

        written.add_done_callback(report)
        return outcome
