"""The analysis service as the CLI and the bot call it: offline sample, default settings."""

from __future__ import annotations

import pytest

from orchestrator.config import get_settings
from orchestrator.data.offline import sample_end_as_of
from orchestrator.errors import DataError
from orchestrator.service import analysis
from tests.fakes.openai_server import FakeOpenAI


@pytest.fixture(autouse=True)
def offline_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_PROVIDER", "offline")
    monkeypatch.setenv("MAX_CANDIDATES", "4")
    get_settings.cache_clear()


async def test_select_returns_ranked_candidates_and_holdings() -> None:
    view = await analysis.select(as_of=sample_end_as_of(), holdings=["KO", "PFE"])
    symbols = [c.symbol for c in view.candidates]
    assert view.screened == 15 and len(symbols) >= 4 and {"KO", "PFE"} <= set(symbols)
    ranked = [c.score for c in view.candidates[:4]]
    assert ranked == sorted(ranked, reverse=True)
    assert all("mom_60d" in c.factors for c in view.candidates)


async def test_sentiment_view_and_cache_across_calls() -> None:
    first = await analysis.sentiment("aapl", as_of=sample_end_as_of())
    assert first.symbol == "AAPL" and first.sentiment.engine == "lexicon-v1"
    assert first.sentiment.n_items == len(first.items) > 0
    second = await analysis.sentiment("AAPL", as_of=sample_end_as_of())
    assert all(item.cached for item in second.items)
    assert second.sentiment == first.sentiment


async def test_forecast_view_offline_and_unknown_ticker() -> None:
    view = await analysis.forecast("MSFT", as_of=sample_end_as_of())
    assert view is not None and 0 <= view.prob_up <= 1 and view.llm_summary == ""
    with pytest.raises(DataError, match="ZZZZ"):
        await analysis.forecast("ZZZZ", as_of=sample_end_as_of())


async def test_forecast_view_with_the_llm_forecaster(fake_openai: FakeOpenAI) -> None:
    fake_openai.reply_json(
        {
            "positive_developments": ["Cloud growth"],
            "potential_concerns": ["PC decline"],
            "prediction": "Up by 1-2%",
            "analysis": "Cloud momentum should carry the stock.",
        }
    )
    view = await analysis.forecast("MSFT", as_of=sample_end_as_of())
    assert view is not None and view.llm_summary.startswith("U2: Cloud momentum")
    prompt = fake_openai.chat_requests()[0].body["messages"][-1]["content"]
    assert "Microsoft" in prompt and "[Company Introduction]" in prompt
