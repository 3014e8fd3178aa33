"""`service.llm.ask`: per-chat memory, the offline engine's plain requests, and `fingpt ask`."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from orchestrator.config import load_settings
from orchestrator.llm import OfflineEngine, memory
from orchestrator.llm.openai_client import OpenAIClient
from orchestrator.service import llm as service
from orchestrator.tools import ToolContext, tool
from tests.agent.conftest import market_registry
from tests.fakes.openai_server import FakeOpenAI
from tests.tools.fake_market import AS_OF, FakeMarketData


class NoArgs(BaseModel):
    pass


def _ask(question: str, engine: Engine, **options):  # type: ignore[no-untyped-def]
    options.setdefault("registry", market_registry())
    return service.ask(
        question,
        engine=engine,
        market_data=FakeMarketData(),
        as_of=AS_OF,
        settings=load_settings(),
        **options,
    )


async def test_a_chat_remembers_its_own_earlier_turns(
    fake_openai: FakeOpenAI, engine: Engine
) -> None:
    client = OpenAIClient(load_settings(), engine)
    fake_openai.reply_text("Apple is at 128.")
    await _ask("What is Apple at?", engine, llm=client, chat_id="chat-1")
    fake_openai.reply_text("Up 2% this week.")
    view = await _ask("And this week?", engine, llm=client, chat_id="chat-1")
    fake_openai.reply_text("Which company?")
    await _ask("And this week?", engine, llm=client, chat_id="chat-2")

    assert view.text == "Up 2% this week."
    second = [m["content"] for m in fake_openai.chat_requests()[1].body["messages"][1:]]
    assert second == ["What is Apple at?", "Apple is at 128.", "And this week?"]
    other = fake_openai.chat_requests()[2].body["messages"]
    assert [m["content"] for m in other[1:]] == ["And this week?"]
    assert await service.forget_chat("chat-1", engine=engine) == 4


async def test_memory_is_trimmed_to_the_context_window(sqlite_engine: Engine) -> None:
    words = " ".join(f"word{i}" for i in range(200))  # ~400 tokens per message
    for turn in range(6):
        await memory.save_exchange(sqlite_engine, "c", f"question {turn} {words}", f"answer {turn}")
    history = await memory.load_history(sqlite_engine, "c", context_tokens=2000)
    # Half of the 2,000-token window is for memory: only the newest exchanges fit, whole.
    assert 1 <= len(history) // 2 < 6
    assert history[0]["role"] == "user"
    assert history[-1] == {"role": "assistant", "content": "answer 5"}


async def test_offline_engine_answers_plain_requests(sqlite_engine: Engine) -> None:
    registry = market_registry()

    @tool(name="get_portfolio", description="Cash and positions.", registry=registry)
    def get_portfolio(args: NoArgs, ctx: ToolContext) -> dict[str, object]:
        return {"cash": 25000.0, "positions": [{"symbol": "AAPL", "quantity": 10}]}

    llm = OfflineEngine(known_symbols=["AAPL", "TSLA"])
    price = await _ask("price of AAPL", sqlite_engine, llm=llm, registry=registry)
    assert price.text.startswith("AAPL: 128.00")
    assert price.tools_used == ("get_quote",)
    news = await _ask("news on tsla", sqlite_engine, llm=llm, registry=registry)
    assert news.text.startswith("News for TSLA:")
    assert "TSLA headline number 0" in news.text and "<<untrusted" not in news.text
    portfolio = await _ask("how is my portfolio", sqlite_engine, llm=llm, registry=registry)
    assert portfolio.tools_used == ("get_portfolio",) and "cash: 25,000.00" in portfolio.text
    for view in (price, news, portfolio):
        assert view.offline and view.engine == "offline rules engine"
        assert "offline rules engine" in view.text and "OPENAI_API_KEY" in view.text
        assert view.tokens == 0 and view.cost_usd == 0
    confused = await _ask("tell me a joke", sqlite_engine, llm=llm, registry=registry)
    assert "price of AAPL" in confused.text and confused.tools_used == ()


def test_fingpt_ask_offline_prints_answer_tools_and_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from orchestrator.cli import app

    monkeypatch.setenv("DATA_PROVIDER", "offline")
    result = CliRunner().invoke(app, ["ask", "price of AAPL"])
    assert result.exit_code == 0, result.output
    # Offline, the service's clock stands inside the sample (2015-12-17 15:30 New York, see
    # `facade.demo_clock`): the last close known then is 2015-12-16's.
    assert "AAPL: 107.58 (as of 2015-12-16 16:00)" in result.output
    assert "get_quote" in result.output and '{"symbol": "AAPL"}' in result.output
    assert "Engine: offline rules engine" in result.output
    assert "tokens: 0 in, 0 out | cost: $0.0000" in result.output
    assert "OPENAI_BASE_URL" in result.output


def test_fingpt_ask_with_a_model_prints_tokens_cost_and_logs_calls(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestrator.cli import app

    monkeypatch.setenv("DATA_PROVIDER", "offline")
    monkeypatch.setenv("LLM_MODEL", "gpt-4o-mini")
    fake_openai.reply_tool_calls([("get_quote", {"symbol": "MSFT"})], usage=(900, 15))
    fake_openai.reply_text("MSFT closed 2015 at 55.48.", usage=(1000, 12))
    runner = CliRunner()
    result = runner.invoke(app, ["ask", "What did MSFT close 2015 at?"])
    assert result.exit_code == 0, result.output
    assert "MSFT closed 2015 at 55.48." in result.output
    assert "get_quote" in result.output
    assert "tokens: 1,900 in, 27 out" in result.output
    assert "cost: $0.0003" in result.output  # (1900*0.15 + 27*0.60) / 1e6
    tool_message = fake_openai.chat_requests()[1].body["messages"][-1]
    assert json.loads(tool_message["content"])["symbol"] == "MSFT"

    calls = runner.invoke(app, ["llm", "calls", "--last", "5"])
    assert calls.exit_code == 0, calls.output
    assert "Last 2 LLM calls" in calls.output
    assert "900/15" in calls.output and "1,000/12" in calls.output


def test_fingpt_ask_offline_sample_time_and_as_of(monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestrator.cli import app

    monkeypatch.setenv("DATA_PROVIDER", "offline")
    runner = CliRunner()
    news = runner.invoke(app, ["ask", "news on KO"])
    assert news.exit_code == 0, news.output
    assert "News for KO:" in news.output and "- 2015-12-1" in news.output
    past = runner.invoke(app, ["ask", "price of KO", "--as-of", "2015-03-02"])
    assert past.exit_code == 0, past.output
    assert "(as of 2015-03-02 16:00)" in past.output
    bad = runner.invoke(app, ["ask", "price of KO", "--as-of", "March"])
    assert bad.exit_code != 0
