"""LLM calls, tool calls and chat turns are counted as their audit rows are written."""

from __future__ import annotations

from prometheus_client import REGISTRY
from sqlalchemy.engine import Engine

from orchestrator.monitoring import install_store_metrics
from orchestrator.store.db import session_scope
from orchestrator.store.llm import LLMCallRow, add_chat_turn, add_llm_call


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def agent_request() -> dict[str, object]:
    """The agent's second request: the model asked for two tools; one failed."""
    return {
        "model": "m-test",
        "messages": [
            {"role": "system", "content": "..."},
            {"role": "user", "content": "how is AAPL?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "get_quote"}},
                    {"id": "c2", "type": "function", "function": {"name": "get_news"}},
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": '{"price": 120.0}'},
            {"role": "tool", "tool_call_id": "c2", "content": "error: get_news failed: Timeout"},
        ],
    }


def test_rows_written_update_llm_tool_and_chat_metrics(sqlite_engine: Engine) -> None:
    install_store_metrics()
    install_store_metrics()  # idempotent: a second install must not double count
    before = {
        "calls": value("fingpt_llm_calls_total", task="chat", model="m-test", status="ok"),
        "errors": value("fingpt_llm_calls_total", task="chat", model="m-test", status="error"),
        "cached": value("fingpt_llm_calls_total", task="chat", model="m-test", status="cached"),
        "prompt": value("fingpt_llm_tokens_total", task="chat", model="m-test", kind="prompt"),
        "cost": value("fingpt_llm_cost_usd_total", task="chat", model="m-test"),
        "quote": value("fingpt_tool_calls_total", tool="get_quote"),
        "news": value("fingpt_tool_calls_total", tool="get_news"),
        "news_errors": value("fingpt_tool_errors_total", tool="get_news"),
        "quote_errors": value("fingpt_tool_errors_total", tool="get_quote"),
        "tg_in": value("fingpt_chat_messages_total", face="telegram", direction="in"),
        "console_out": value("fingpt_chat_messages_total", face="console", direction="out"),
    }
    common = {"task": "chat", "model": "m-test", "request_hash": "h"}
    with session_scope(sqlite_engine) as session:
        add_llm_call(
            session,
            LLMCallRow(**common, request=agent_request(), prompt_tokens=120,
                       completion_tokens=30, cost_usd=0.002, latency_ms=450),
        )  # fmt: skip
        add_llm_call(session, LLMCallRow(**common, request={}, error="HTTP 500"))
        add_llm_call(session, LLMCallRow(**common, request={}, cached=True, prompt_tokens=99))
        add_chat_turn(session, "12345", "user", "how is AAPL?", 5)
        add_chat_turn(session, "0", "assistant", "AAPL is 120.", 5)

    assert value("fingpt_llm_calls_total", task="chat", model="m-test", status="ok") == (
        before["calls"] + 1
    )
    assert value("fingpt_llm_calls_total", task="chat", model="m-test", status="error") == (
        before["errors"] + 1
    )
    assert value("fingpt_llm_calls_total", task="chat", model="m-test", status="cached") == (
        before["cached"] + 1
    )
    # A replayed answer spends no new tokens.
    assert value("fingpt_llm_tokens_total", task="chat", model="m-test", kind="prompt") == (
        before["prompt"] + 120
    )
    assert (
        abs(
            value("fingpt_llm_cost_usd_total", task="chat", model="m-test") - before["cost"] - 0.002
        )
        < 1e-9
    )
    assert value("fingpt_tool_calls_total", tool="get_quote") == before["quote"] + 1
    assert value("fingpt_tool_calls_total", tool="get_news") == before["news"] + 1
    assert value("fingpt_tool_errors_total", tool="get_news") == before["news_errors"] + 1
    assert value("fingpt_tool_errors_total", tool="get_quote") == before["quote_errors"]
    assert value("fingpt_chat_messages_total", face="telegram", direction="in") == (
        before["tg_in"] + 1
    )
    assert value("fingpt_chat_messages_total", face="console", direction="out") == (
        before["console_out"] + 1
    )
