"""`OpenAIClient`: the `LLMClient` on the official openai SDK, for any OpenAI-compatible endpoint.

Routing per task (SENTIMENT, FORECAST, DECISION, CHAT, REFLECTION): the model is
`LLM_MODEL_<TASK>` or `LLM_MODEL`; the endpoint `LLM_BASE_URL_<TASK>` or `OPENAI_BASE_URL` (unset:
api.openai.com); the key `LLM_API_KEY_<TASK>` or `OPENAI_API_KEY` (local servers need none; a
placeholder is sent). One SDK client per (endpoint, key) is shared by the tasks that use it.

Structured answers ask for a JSON object (`response_format=json_object`, which OpenAI, vLLM,
Ollama and llama.cpp all accept), validate it against the schema, and on failure send the error
back once for a repair. The contract is in `orchestrator.llm.base`.
"""

from __future__ import annotations

import functools
import json
import re
import time
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.engine import Engine

from orchestrator.config import Settings
from orchestrator.errors import LLMError
from orchestrator.llm.accounting import PriceTable
from orchestrator.llm.base import CallContext, ChatReply, StructuredResult, ToolCallRequest, Usage
from orchestrator.llm.calls import CallOutcome, CallRunner, Endpoint
from orchestrator.llm.prompts import render_prompt

T = TypeVar("T")

_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.S)
# Local servers ignore the key but the SDK insists on one.
_PLACEHOLDER_KEY = "not-needed"


def extract_json(text: str) -> str:
    """The JSON object in a reply, tolerating code fences and chatter around it."""
    text = text.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    if text.startswith(("{", "[")):
        return text
    start, end = text.find("{"), text.rfind("}")
    return text[start : end + 1] if 0 <= start < end else text


@functools.lru_cache(maxsize=64)
def _adapter(schema: Any) -> TypeAdapter[Any]:
    # Built once per schema: a cycle makes ~2 calls per ticker, and building the adapter and
    # its JSON schema each time cost more CPU than the request itself.
    return TypeAdapter(schema)


@functools.lru_cache(maxsize=64)
def _schema_instruction(schema: Any) -> str:
    json_schema = _adapter(schema).json_schema()
    return "Answer with one JSON object only, no prose, matching this JSON schema:\n" + json.dumps(
        json_schema, separators=(",", ":")
    )


class OpenAIClient:
    """See the module docstring. `retry_base_seconds` exists for tests and benchmarks;
    `http_client` (an `httpx.AsyncClient`) replaces the SDK's HTTP client for every endpoint."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine | None,
        *,
        retry_base_seconds: float = 0.5,
        temperature: float | None = 0.0,
        http_client: Any = None,
    ) -> None:
        from openai import AsyncOpenAI  # the SDK is heavy; offline runs never import it

        self._client_class = AsyncOpenAI
        self.settings = settings
        self.temperature = temperature
        self.runner = CallRunner(
            engine=engine,
            cache_mode=settings.llm_cache,
            max_retries=settings.llm_max_retries,
            prices=PriceTable(settings.llm_prices_json),
            retry_base_seconds=retry_base_seconds,
        )
        # An `httpx.AsyncClient` for every endpoint (proxies, custom TLS; benchmarks pass an
        # in-process transport). None: the SDK's own.
        self._http_client = http_client
        self._clients: dict[tuple[str | None, str], Any] = {}

    @property
    def offline(self) -> bool:
        return False

    @property
    def label(self) -> str:
        return self.settings.model_for("chat")

    def endpoint(self, task: str) -> Endpoint:
        settings = self.settings
        base_url = getattr(settings, f"llm_base_url_{task}", None) or settings.openai_base_url
        secret = getattr(settings, f"llm_api_key_{task}", None) or settings.openai_api_key
        api_key = secret.get_secret_value() if secret is not None else _PLACEHOLDER_KEY
        client = self._clients.get((base_url, api_key))
        if client is None:
            client = self._client_class(
                api_key=api_key,
                base_url=base_url,
                max_retries=0,  # CallRunner retries, so that each retry is logged and counted
                timeout=settings.llm_timeout_seconds,
                http_client=self._http_client or self._own_http_client(),
            )
            self._clients[(base_url, api_key)] = client
        return Endpoint(model=settings.model_for(task), base_url=base_url, client=client)

    def _own_http_client(self) -> Any:
        """The SDK's aiohttp transport (`LLM_HTTP_CLIENT=aiohttp`), else None: the SDK's httpx.
        With 50 calls in flight, httpx's pool re-checked every open connection on each request
        and release; over aiohttp a cycle of 50 tickers spent ~17 % less CPU in analysis."""
        if self.settings.llm_http_client != "aiohttp":
            return None
        from openai import DefaultAioHttpClient

        return DefaultAioHttpClient()

    async def close(self) -> None:
        """Close the HTTP clients (one per endpoint) while their event loop still runs."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()

    def _params(self) -> dict[str, Any]:
        return {} if self.temperature is None else {"temperature": self.temperature}

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
        endpoint = self.endpoint(task)
        request: dict[str, Any] = {"model": endpoint.model, "messages": messages, **self._params()}
        if tools:
            request["tools"] = tools
        # The agent's hot path: the log row is written while the tools run (`flush()` waits).
        outcome = await self.runner.complete(
            task, endpoint, request, context,
            template=template, template_version=template_version, background_log=True,
        )  # fmt: skip
        return _reply(outcome)

    async def flush(self) -> None:
        """Wait until every call-log row of this client is stored."""
        await self.runner.flush()

    async def structured(
        self,
        task: str,
        *,
        template: str,
        variables: dict[str, Any],
        schema: type[T],
        context: CallContext,
    ) -> StructuredResult[T]:
        prompt = render_prompt(template, variables)
        messages = prompt.messages(system_suffix=_schema_instruction(schema))
        endpoint = self.endpoint(task)
        adapter: TypeAdapter[T] = _adapter(schema)
        result: StructuredResult[T] = StructuredResult(value=None, engine=endpoint.model)
        started = time.perf_counter()
        for attempt in range(2):  # the answer, then one repair
            request: dict[str, Any] = {
                "model": endpoint.model,
                "messages": messages,
                "response_format": {"type": "json_object"},
                **self._params(),
            }
            try:
                outcome = await self.runner.complete(
                    task, endpoint, request, context,
                    template=prompt.name, template_version=prompt.version,
                )  # fmt: skip
            except LLMError as exc:
                result.abstained_reason = str(exc)
                break
            _add(result, outcome)
            text = (
                outcome.completion.choices[0].message.content or ""
                if outcome.completion.choices
                else ""
            )
            try:
                result.value = adapter.validate_json(extract_json(text))
                result.abstained_reason = None
                break
            except ValidationError as exc:
                problem = _short_errors(exc)
                result.abstained_reason = (
                    f"the {task} answer failed validation twice: {problem}"
                    if attempt
                    else f"invalid answer: {problem}"
                )
                messages = [
                    *messages,
                    {"role": "assistant", "content": text},
                    {
                        "role": "user",
                        "content": f"Your answer was not valid: {problem}. Reply with the "
                        "corrected JSON object only.",
                    },
                ]
        result.latency_ms = (time.perf_counter() - started) * 1000
        return result


def _short_errors(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:4]:
        where = ".".join(str(p) for p in error["loc"]) or "answer"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def _add(result: StructuredResult[Any], outcome: CallOutcome) -> None:
    result.usage = result.usage + outcome.usage
    result.cost_usd += outcome.cost_usd
    result.cached = result.cached or outcome.cached
    result.model = outcome.model
    if outcome.call_id is not None:
        result.call_ids.append(outcome.call_id)


def _reply(outcome: CallOutcome) -> ChatReply:
    if not outcome.completion.choices:
        raise LLMError(f"The model {outcome.model} returned no choices.")
    choice = outcome.completion.choices[0]
    calls = []
    for call in choice.message.tool_calls or ():
        function = getattr(call, "function", None)
        if function is not None:
            calls.append(ToolCallRequest(call.id, function.name, function.arguments or ""))
    return ChatReply(
        content=choice.message.content,
        tool_calls=calls,
        engine=outcome.model,
        model=outcome.model,
        usage=outcome.usage if not outcome.cached else Usage(),
        cost_usd=outcome.cost_usd,
        latency_ms=outcome.latency_ms,
        cached=outcome.cached,
        finish_reason=choice.finish_reason or "",
        call_id=outcome.call_id,
    )
