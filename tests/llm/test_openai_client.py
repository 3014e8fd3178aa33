"""The OpenAI client through the real `openai` SDK against the fake server on 127.0.0.1."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest
from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine

from orchestrator.errors import BudgetExceeded, ConfigError, LLMError
from orchestrator.llm import CallContext, TokenBudget, build_llm
from orchestrator.llm.accounting import PriceTable, count_message_tokens
from orchestrator.llm.offline import OfflineEngine
from orchestrator.llm.prompts import template_source
from orchestrator.store.db import session_scope
from orchestrator.store.llm import recent_llm_calls
from tests.llm.conftest import ClientFactory, FakeOpenAI


class Lesson(BaseModel):
    lesson: str = Field(min_length=3)
    confidence: float = Field(ge=0, le=1)


REFLECTION_VARS = {
    "symbol": "AAPL",
    "decided_at": datetime(2015, 3, 2, tzinfo=UTC),
    "decision": "buy 10",
    "outcome": "fell 4%",
}


def _calls(engine: Engine) -> list:
    with session_scope(engine) as session:
        return list(reversed(recent_llm_calls(session, 100)))


async def _lesson(client, context: CallContext | None = None):  # type: ignore[no-untyped-def]
    return await client.structured(
        "reflection",
        template="reflection",
        variables=REFLECTION_VARS,
        schema=Lesson,
        context=context or CallContext(cycle_id=7),
    )


def test_no_key_and_no_base_url_means_the_offline_engine() -> None:
    from orchestrator.config import load_settings

    assert isinstance(build_llm(load_settings()), OfflineEngine)


async def test_each_task_goes_to_its_model_endpoint_and_key(
    fake_openai_factory, make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    big, local = fake_openai_factory(), fake_openai_factory()
    monkeypatch.setenv("OPENAI_BASE_URL", big.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-main")
    monkeypatch.setenv("LLM_MODEL", "gpt-4o-mini")
    monkeypatch.setenv("LLM_MODEL_DECISION", "gpt-4.1")
    monkeypatch.setenv("LLM_MODEL_REFLECTION", "llama3:8b")
    monkeypatch.setenv("LLM_BASE_URL_REFLECTION", local.base_url)
    monkeypatch.setenv("LLM_API_KEY_REFLECTION", "sk-local")
    client = make_client()
    local.reply_json({"lesson": "wait for confirmation", "confidence": 0.6})
    big.reply_text("decided")
    big.reply_text("hello")

    lesson = await _lesson(client)
    await client.chat("decision", [{"role": "user", "content": "x"}], context=CallContext())
    await client.chat("chat", [{"role": "user", "content": "y"}], context=CallContext())

    assert lesson.value == Lesson(lesson="wait for confirmation", confidence=0.6)
    (reflection,) = local.chat_requests()
    assert reflection.model == "llama3:8b"
    assert reflection.headers["authorization"] == "Bearer sk-local"
    assert [r.model for r in big.chat_requests()] == ["gpt-4.1", "gpt-4o-mini"]
    assert {r.headers["authorization"] for r in big.chat_requests()} == {"Bearer sk-main"}


async def test_429_and_500_are_retried_and_counted(
    fake_openai: FakeOpenAI, make_client: ClientFactory, sqlite_engine: Engine
) -> None:
    fake_openai.reply_error(429, "slow down", retry_after=0)
    fake_openai.reply_error(503, "overloaded")
    fake_openai.reply_text("fine now")
    client = make_client()
    reply = await client.chat(
        "chat", [{"role": "user", "content": "hi"}], context=CallContext(chat_id="c1")
    )
    await client.flush()  # chat() writes its log row in the background
    assert reply.content == "fine now"
    assert len(fake_openai.chat_requests()) == 3
    (row,) = _calls(sqlite_engine)
    assert row.retries == 2 and row.error == "" and row.chat_id == "c1"


async def test_a_client_error_is_not_retried_and_is_logged(
    fake_openai: FakeOpenAI, make_client: ClientFactory, sqlite_engine: Engine
) -> None:
    fake_openai.reply_error(400, "model does not exist")
    with pytest.raises(LLMError, match="HTTP 400.*model does not exist"):
        await make_client().chat("chat", [{"role": "user", "content": "hi"}], context=CallContext())
    assert len(fake_openai.chat_requests()) == 1
    (row,) = _calls(sqlite_engine)
    assert "HTTP 400" in row.error and row.response is None


async def test_retries_run_out_then_a_structured_task_abstains(
    fake_openai: FakeOpenAI, make_client: ClientFactory
) -> None:
    for _ in range(3):
        fake_openai.reply_error(500, "boom")
    result = await _lesson(make_client(llm_max_retries=2))
    assert result.abstained
    assert "after 2 retries" in (result.abstained_reason or "")
    assert len(fake_openai.chat_requests()) == 3


@pytest.mark.parametrize("http_client", ["aiohttp", "httpx"])
async def test_a_slow_reply_times_out_and_is_retried(
    fake_openai: FakeOpenAI, make_client: ClientFactory, http_client: str
) -> None:
    # Generous margins: the retry must be on time even on a loaded 2-core CI machine.
    fake_openai.reply_text("too late", latency=5.0)
    fake_openai.reply_text("on time")
    client = make_client(llm_timeout_seconds=1.5, llm_max_retries=1, llm_http_client=http_client)
    reply = await client.chat("chat", [{"role": "user", "content": "hi"}], context=CallContext())
    assert reply.content == "on time"


@pytest.mark.parametrize("http_client", ["aiohttp", "httpx"])
async def test_an_unreachable_endpoint_is_a_clear_error_after_the_retries(
    make_client: ClientFactory, http_client: str
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = make_client(
        openai_base_url=f"http://127.0.0.1:{port}/v1",
        openai_api_key="sk-test",
        llm_max_retries=1,
        llm_http_client=http_client,
    )
    with pytest.raises(LLMError, match=f"127.0.0.1:{port} failed after 1 retries"):
        await client.chat("chat", [{"role": "user", "content": "hi"}], context=CallContext())


async def test_invalid_json_gets_one_repair(
    fake_openai: FakeOpenAI, make_client: ClientFactory, sqlite_engine: Engine
) -> None:
    fake_openai.reply_text("I think the lesson is to be patient.")
    fake_openai.reply_text('```json\n{"lesson": "be patient", "confidence": 0.7}\n```')
    result = await _lesson(make_client())
    assert result.value == Lesson(lesson="be patient", confidence=0.7)
    repair = fake_openai.chat_requests()[1].body["messages"]
    assert repair[-2] == {"role": "assistant", "content": "I think the lesson is to be patient."}
    assert "not valid" in repair[-1]["content"]
    assert len(result.call_ids) == 2 and result.tokens == 60  # both attempts are accounted


async def test_invalid_twice_abstains_with_the_reason(
    fake_openai: FakeOpenAI, make_client: ClientFactory
) -> None:
    fake_openai.reply_json({"lesson": "x", "confidence": 3})
    fake_openai.reply_json({"lesson": "still bad", "confidence": 2})
    fake_openai.reply_json({"lesson": "never asked", "confidence": 0.5})
    result = await _lesson(make_client())
    assert result.value is None
    assert "failed validation twice" in (result.abstained_reason or "")
    assert "confidence" in (result.abstained_reason or "")
    assert len(fake_openai.chat_requests()) == 2 and fake_openai.queued() == 1


async def test_structured_request_carries_the_schema_and_json_mode(
    fake_openai: FakeOpenAI, make_client: ClientFactory, sqlite_engine: Engine
) -> None:
    fake_openai.reply_json({"lesson": "size smaller", "confidence": 0.5})
    await _lesson(make_client())
    body = fake_openai.chat_requests()[0].body
    assert body["response_format"] == {"type": "json_object"}
    assert '"confidence"' in body["messages"][0]["content"]  # the JSON schema is in the prompt
    assert "Symbol: AAPL" in body["messages"][1]["content"]
    (row,) = _calls(sqlite_engine)
    _source, version = template_source("reflection")
    assert (row.template, row.template_version, row.cycle_id) == ("reflection", version, 7)


async def test_usage_and_cost_come_from_the_api(
    fake_openai: FakeOpenAI, make_client: ClientFactory, sqlite_engine: Engine
) -> None:
    fake_openai.reply_text("hi", usage=(1200, 300))
    client = make_client(llm_model="gpt-4o-mini")
    reply = await client.chat("chat", [{"role": "user", "content": "hi"}], context=CallContext())
    await client.flush()
    expected = (1200 * 0.15 + 300 * 0.60) / 1_000_000
    assert reply.usage.prompt_tokens == 1200 and reply.usage.completion_tokens == 300
    assert reply.cost_usd == pytest.approx(expected)
    (row,) = _calls(sqlite_engine)
    assert (row.prompt_tokens, row.completion_tokens, row.tokens_estimated) == (1200, 300, False)
    assert row.cost_usd == pytest.approx(expected)
    assert row.endpoint_host == fake_openai.base_url.split("//")[1].split("/")[0]
    assert row.request["messages"] == [{"role": "user", "content": "hi"}]
    assert row.response["choices"][0]["message"]["content"] == "hi"
    assert row.latency_ms > 0


async def test_missing_usage_is_counted_with_tiktoken(
    fake_openai: FakeOpenAI, make_client: ClientFactory, sqlite_engine: Engine
) -> None:
    fake_openai.omit_usage = True
    fake_openai.reply_text("Apple closed at 128.03 dollars.")
    messages = [{"role": "user", "content": "What was the price of Apple stock on Monday?"}]
    client = make_client()
    reply = await client.chat("chat", messages, context=CallContext())
    await client.flush()
    assert reply.usage.estimated
    assert reply.usage.prompt_tokens == count_message_tokens(messages, "gpt-4o-mini")
    # o200k_base splits this sentence into 9 tokens (a 4-chars-per-token guess would say 8).
    assert reply.usage.completion_tokens == 9
    (row,) = _calls(sqlite_engine)
    assert row.tokens_estimated and row.completion_tokens == 9


def test_price_table_matches_snapshots_and_accepts_overrides() -> None:
    table = PriceTable('{"llama3:8b": [0.1, 0.2], "gpt-4o": [5, 15]}')
    assert table.cost("gpt-4o-mini-2024-07-18", 1_000_000, 0) == pytest.approx(0.15)
    assert table.cost("gpt-4o-2024-08-06", 0, 1_000_000) == pytest.approx(15)
    assert table.cost("llama3:8b", 1_000_000, 1_000_000) == pytest.approx(0.3)
    assert table.cost("some-local-model", 10_000, 10_000) == 0.0
    with pytest.raises(ConfigError, match="LLM_PRICES_JSON"):
        PriceTable('{"x": "cheap"}')


async def test_budget_stops_before_the_call_that_does_not_fit(
    fake_openai: FakeOpenAI, make_client: ClientFactory
) -> None:
    fake_openai.reply_text("first", usage=(1600, 200))
    budget = TokenBudget(2000, name="cycle token budget")
    client = make_client()
    context = CallContext(cycle_id=1, budget=budget)
    await client.chat("decision", [{"role": "user", "content": "go"}], context=context)
    assert budget.spent == 1800
    with pytest.raises(BudgetExceeded, match="cycle token budget of 2,000 tokens is reached"):
        await client.chat("decision", [{"role": "user", "content": "again"}], context=context)
    assert len(fake_openai.chat_requests()) == 1  # the second request never left


async def test_budget_exhaustion_makes_a_structured_task_raise_not_abstain(
    fake_openai: FakeOpenAI, make_client: ClientFactory
) -> None:
    # A budget stop must end the run (BudgetExceeded), not look like one abstaining ticker.
    budget = TokenBudget(1000)
    budget.spend(990)
    with pytest.raises(BudgetExceeded):
        await _lesson(make_client(), CallContext(budget=budget))
    assert fake_openai.chat_requests() == []


async def test_replay_answers_identical_requests_without_the_network(
    fake_openai: FakeOpenAI, make_client: ClientFactory, sqlite_engine: Engine
) -> None:
    fake_openai.reply_json({"lesson": "trim winners", "confidence": 0.4}, usage=(300, 40))
    first = await _lesson(make_client(llm_cache="record"))
    assert len(fake_openai.chat_requests()) == 1

    budget = TokenBudget(5000)
    replayed = await _lesson(make_client(llm_cache="replay"), CallContext(budget=budget))
    assert replayed.value == first.value
    assert replayed.cached and replayed.tokens == 0 and replayed.cost_usd == 0
    assert budget.spent == 0
    assert len(fake_openai.chat_requests()) == 1  # nothing reached the server
    rows = _calls(sqlite_engine)
    assert [r.cached for r in rows] == [False, True]
    assert rows[1].prompt_tokens == 0 and rows[1].response == rows[0].response


async def test_replay_misses_on_a_different_request_and_off_never_replays(
    fake_openai: FakeOpenAI, make_client: ClientFactory
) -> None:
    messages = [{"role": "user", "content": "hi"}]
    await make_client(llm_cache="record").chat("chat", messages, context=CallContext())
    replay = make_client(llm_cache="replay")
    await replay.chat("chat", messages, context=CallContext())
    assert len(fake_openai.chat_requests()) == 1
    await replay.chat("chat", [{"role": "user", "content": "hi!"}], context=CallContext())
    assert len(fake_openai.chat_requests()) == 2
    await make_client(llm_cache="off").chat("chat", messages, context=CallContext())
    assert len(fake_openai.chat_requests()) == 3


async def test_calls_are_logged_on_postgresql_too(
    fake_openai: FakeOpenAI, make_client: ClientFactory, engine: Engine
) -> None:
    fake_openai.reply_json({"lesson": "hold", "confidence": 0.5})
    await _lesson(make_client(engine=engine))
    replayed = await _lesson(make_client(engine=engine, llm_cache="replay"))
    assert replayed.cached
    rows = _calls(engine)
    assert [(r.task, r.cached, r.cycle_id) for r in rows] == [
        ("reflection", False, 7),
        ("reflection", True, 7),
    ]


async def test_a_local_server_needs_only_a_base_url(
    fake_openai_factory, make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = fake_openai_factory()
    monkeypatch.setenv("OPENAI_BASE_URL", local.base_url)  # e.g. Ollama: no key at all
    from orchestrator.config import load_settings

    settings = load_settings()
    assert settings.llm_enabled and settings.openai_api_key is None
    client = build_llm(settings, None)
    reply = await client.chat("chat", [{"role": "user", "content": "hi"}], context=CallContext())
    assert reply.content == "ok" and not client.offline
    assert local.chat_requests()[0].headers["authorization"] == "Bearer not-needed"


async def test_background_log_rows_are_all_written_in_order(
    fake_openai: FakeOpenAI, make_client: ClientFactory, sqlite_engine: Engine
) -> None:
    client = make_client()
    for n in range(5):
        reply = await client.chat(
            "chat", [{"role": "user", "content": f"q{n}"}], context=CallContext(chat_id="bg")
        )
        assert reply.call_id is None  # written while the caller goes on
    await client.flush()
    rows = _calls(sqlite_engine)
    assert [r.request["messages"][0]["content"] for r in rows] == [f"q{n}" for n in range(5)]
