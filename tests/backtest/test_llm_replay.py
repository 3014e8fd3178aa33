"""An LLM backtest through the real openai SDK (fake server on 127.0.0.1): the second run with
LLM_CACHE=replay is answered from the stored calls and costs 0 tokens; the report says so."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from orchestrator.backtest import BacktestConfig, run_backtest
from orchestrator.config import load_settings
from tests.fakes.openai_server import (  # noqa: F401
    FakeOpenAI,
    close_openai_clients,
    fake_openai,
    fake_openai_factory,
)


async def test_replayed_rerun_costs_no_tokens(
    fake_openai: FakeOpenAI,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LLM_CACHE", "replay")
    settings = load_settings(max_candidates=2)

    async def backtest(name: str):  # type: ignore[no-untyped-def]
        config = BacktestConfig(
            start=date(2015, 6, 1),
            end=date(2015, 6, 5),
            tickers=["AAPL", "MSFT"],
            engine="llm",
            rebalance="weekly",
            out_dir=tmp_path / name,
        )
        return (await run_backtest(config, settings)).result

    first = await backtest("first")
    sent = len(fake_openai.chat_requests())
    assert first.llm.calls == sent > 0
    assert first.llm.tokens > 0 and first.llm.replay_hits == 0
    assert any("gpt-4o-mini was trained on data up to" in w for w in first.warnings)

    second = await backtest("second")
    assert len(fake_openai.chat_requests()) == sent  # nothing reached the model
    assert second.llm.calls == 0 and second.llm.tokens == 0 and second.llm.cost_usd == 0
    assert second.llm.replay_hits == sent
    assert second.strategy == first.strategy
