"""The offline rules engine (no key, no base URL): deterministic answers, labelled, no network."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel, Field

from orchestrator.llm import CallContext, OfflineEngine, TokenBudget, register_offline_handler
from orchestrator.llm import offline as offline_module
from orchestrator.llm.offline_chat import extract_symbols, respond
from orchestrator.tools.market import NewsArgs, SymbolArgs
from orchestrator.tools.registry import ToolSpec


class Mood(BaseModel):
    score: float = Field(ge=-1, le=1)
    label: str


@pytest.fixture
def probe_task() -> Iterator[str]:
    yield "probe_task"
    offline_module._HANDLERS.pop("probe_task", None)


async def test_a_registered_rule_answers_deterministically(probe_task: str) -> None:
    def rule(variables: dict[str, Any], schema: type[Any]) -> Mood:
        score = max(-1.0, min(1.0, variables["momentum"] * 10))
        return schema(score=score, label="positive" if score > 0 else "negative")

    register_offline_handler(probe_task, rule)
    engine = OfflineEngine()
    budget = TokenBudget(1000)
    results = [
        await engine.structured(
            probe_task,
            template="unused",
            variables={"momentum": 0.05},
            schema=Mood,
            context=CallContext(budget=budget),
        )
        for _ in range(2)
    ]
    assert results[0].value == results[1].value == Mood(score=0.5, label="positive")
    assert results[0].engine == "offline rules engine" and results[0].tokens == 0
    assert budget.spent == 0


async def test_no_rule_or_a_failing_rule_abstains(probe_task: str) -> None:
    engine = OfflineEngine()
    missing = await engine.structured(
        probe_task, template="x", variables={}, schema=Mood, context=CallContext()
    )
    assert missing.abstained
    assert "no rule for the 'probe_task' task" in (missing.abstained_reason or "")
    assert "OPENAI_API_KEY" in (missing.abstained_reason or "")

    register_offline_handler(probe_task, lambda variables, schema: {"score": 7, "label": "x"})
    invalid = await engine.structured(
        probe_task, template="x", variables={}, schema=Mood, context=CallContext()
    )
    assert invalid.abstained and "score" in (invalid.abstained_reason or "")


def _tools(*names: str) -> list[dict[str, Any]]:
    models = {"get_quote": SymbolArgs, "get_news": NewsArgs}
    return [
        ToolSpec(name, name, models.get(name, SymbolArgs), lambda a, c: None).openai_schema()
        for name in names
    ]


def test_plain_requests_map_to_tool_calls() -> None:
    tools = _tools("get_quote", "get_news", "get_price_history")
    text, calls = respond([{"role": "user", "content": "price of AAPL and MSFT"}], tools, set())
    assert text is None
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("get_quote", {"symbol": "AAPL"}),
        ("get_quote", {"symbol": "MSFT"}),
    ]
    _, news = respond([{"role": "user", "content": "any news on tsla?"}], tools, {"TSLA"})
    assert news[0].name == "get_news"
    assert json.loads(news[0].arguments) == {"symbol": "TSLA", "limit": None, "days": None}


def test_requests_it_cannot_serve_say_why() -> None:
    tools = _tools("get_quote")
    text, calls = respond([{"role": "user", "content": "how is my portfolio"}], tools, set())
    assert calls == [] and "portfolio tool is not available" in (text or "")
    text, _ = respond([{"role": "user", "content": "what is the price?"}], tools, set())
    assert "Which ticker?" in (text or "")
    text, _ = respond([{"role": "user", "content": "help"}], tools, set())
    assert "news on TSLA" in (text or "") and "offline rules engine" in (text or "")


def test_ticker_extraction_ignores_ordinary_words() -> None:
    assert extract_symbols("What is the PE of $nvda and MSFT?", set()) == ["NVDA", "MSFT"]
    assert extract_symbols("how is apple doing", {"AAPL"}) == []
    assert extract_symbols("price of aapl", {"AAPL"}) == ["AAPL"]


def test_analysis_requests_use_the_analysis_tools() -> None:
    tools = _tools("get_quote", "analyze_sentiment", "forecast", "select_stocks")
    _, sentiment = respond([{"role": "user", "content": "sentiment of AMZN"}], tools, set())
    assert [(c.name, json.loads(c.arguments)) for c in sentiment] == [
        ("analyze_sentiment", {"symbol": "AMZN"})
    ]
    _, forecast = respond([{"role": "user", "content": "forecast for MSFT"}], tools, set())
    assert forecast[0].name == "forecast"
    _, picks = respond([{"role": "user", "content": "which stocks look good?"}], tools, set())
    assert [c.name for c in picks] == ["select_stocks"]
