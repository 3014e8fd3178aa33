"""A cycle with an LLM: the real openai SDK against the fake server on 127.0.0.1."""

from __future__ import annotations

import json
from typing import Any

from orchestrator.cycle import run_cycle
from orchestrator.llm.accounting import count_message_tokens, count_text_tokens
from orchestrator.store.db import session_scope
from orchestrator.store.llm import LLMCallRow
from orchestrator.store.trading import recent_orders
from tests.cycle.conftest import sample_settings
from tests.fakes.cycle_answers import MODELS, cycle_answer
from tests.fakes.openai_server import FakeOpenAI


def _llm_settings(fake: FakeOpenAI, **overrides: Any):  # type: ignore[no-untyped-def]
    return sample_settings(
        openai_base_url=fake.base_url,
        openai_api_key="test-key",
        llm_model_sentiment=MODELS["sentiment"],
        llm_model_forecast=MODELS["forecast"],
        llm_model_decision=MODELS["decision"],
        llm_cache="off",
        **overrides,
    )


async def test_a_cycle_with_an_llm_trades_on_validated_proposals_only(
    make_runtime, fake_openai: FakeOpenAI
) -> None:
    fake_openai.respond_with(cycle_answer)
    runtime = await make_runtime(_llm_settings(fake_openai))

    record = await run_cycle(runtime, runtime.clock.now(), slot="test:llm", mode="paper")

    assert record.status == "completed", record.error
    by_symbol = {p.symbol: p for p in record.proposals}
    assert by_symbol["ZZZZ"].dropped_reason and not by_symbol["ZZZZ"].order_id
    bought = [p for p in record.proposals if p.symbol != "ZZZZ"]
    assert len(bought) == 1 and bought[0].verdict in ("approved", "resized") and bought[0].order_id
    analysed = [c for c in record.candidates if c.signals]
    assert all("llm_forecast" in c.signals and "sentiment" in c.signals for c in analysed)
    # At most three LLM calls per ticker decision: sentiment and forecast per ticker, plus
    # the one shared decision call; tokens and cost are in the record.
    calls = fake_openai.chat_requests()
    assert len(calls) <= 2 * len(analysed) + 1
    assert record.llm_calls == len(calls) and record.tokens > 0
    # Tokens a ticker decision costs, counted from what was really sent (prompts) plus the
    # answers: the compact briefs keep it far below 6k.
    sent = sum(count_message_tokens(r.body["messages"]) for r in calls)
    answered = sum(count_text_tokens(json.dumps(cycle_answer(r.body).content)) for r in calls)
    assert (sent + answered) / len(analysed) <= 6_000
    with session_scope(runtime.engine) as session:
        rows = session.query(LLMCallRow).filter(LLMCallRow.cycle_id == record.cycle_id).all()
        assert {row.task for row in rows} == {"sentiment", "forecast", "decision"}


async def test_a_budget_reached_mid_cycle_stops_it_cleanly_with_no_orders(
    make_runtime, fake_openai: FakeOpenAI
) -> None:
    fake_openai.respond_with(cycle_answer)
    # Enough for a few analysis calls, never for all of them and the decision.
    runtime = await make_runtime(_llm_settings(fake_openai, llm_cycle_token_budget=5_000))

    record = await run_cycle(runtime, runtime.clock.now(), slot="test:budget", mode="paper")

    assert record.status == "stopped"
    assert "budget" in record.error
    assert record.proposals == []
    assert not [r for r in fake_openai.chat_requests() if r.model == MODELS["decision"]]
    with session_scope(runtime.engine) as session:
        assert recent_orders(session, limit=10) == []
