"""FinGPT bins, the Forecaster format parser (malformed replies included), and the LLM forecaster
end to end on the fake OpenAI server."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from orchestrator.analysis.forecast import (
    bin_midpoint,
    llm_forecast,
    llm_forecast_detail,
    parse_bin,
    parse_forecaster_text,
    return_bin,
)
from orchestrator.config import get_settings
from orchestrator.llm import OfflineEngine, build_llm
from tests.fakes.openai_server import FakeOpenAI

AS_OF = datetime(2015, 3, 2, 21, 0, tzinfo=UTC)

REPORT = """[Positive Developments]:
1. Strong iPhone sales beat estimates.
2. Buyback raised.

[Potential Concerns]:
1. China slowdown.

[Prediction & Analysis]:
Prediction: Up by 2-3%
Analysis: Momentum and a strong quarter outweigh macro worries.
"""


@pytest.mark.parametrize(
    ("fraction", "expected"),
    [
        (0.0, "U1"),
        (0.0099, "U1"),
        (0.01, "U2"),
        (0.0499, "U5"),
        (0.05, "U5+"),
        (0.2, "U5+"),
        (-0.001, "D1"),
        (-0.01, "D1"),
        (-0.0101, "D2"),
        (-0.0501, "D5+"),
    ],
)
def test_return_bins(fraction: float, expected: str) -> None:
    assert return_bin(fraction) == expected


def test_bin_midpoints() -> None:
    assert bin_midpoint("U3") == pytest.approx(0.025)
    assert bin_midpoint("d1") == pytest.approx(-0.005)
    assert bin_midpoint("U5+") == pytest.approx(0.055)
    with pytest.raises(ValueError, match="unknown bin"):
        bin_midpoint("U7")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("U3", "U3"),
        ("Prediction: D5+", "D5+"),
        ("Up by 2-3%", "U3"),
        ("down by more than 5%", "D5+"),
        ("The stock may decrease by 1-2% next week", "D2"),
        ("up by 0.5%", "U1"),
        ("no idea", None),
    ],
)
def test_parse_bin(text: str, expected: str | None) -> None:
    assert parse_bin(text) == expected


def test_parse_forecaster_text_sections() -> None:
    parsed = parse_forecaster_text(REPORT)
    assert parsed["positive_developments"] == [
        "Strong iPhone sales beat estimates.",
        "Buyback raised.",
    ]
    assert parsed["potential_concerns"] == ["China slowdown."]
    assert parsed["prediction"] == "Up by 2-3%"


def test_parse_forecaster_text_names_a_missing_section() -> None:
    with pytest.raises(ValueError, match=r"\[Potential Concerns\]"):
        parse_forecaster_text("[Positive Developments]: good\n[Prediction & Analysis]: U2")


@pytest.fixture
def llm(fake_openai: FakeOpenAI, sqlite_engine):
    return build_llm(get_settings(), sqlite_engine)


FACTS = {
    "profile": {"name": "Apple Inc.", "sector": "Technology", "industry": "", "description": ""},
    "weekly_moves": [
        {"from": "2015-02-20", "to": "2015-02-27", "change_pct": 1.5, "bin": "U2", "headlines": []}
    ],
    "financials": {"week52_high": 133.6},
    "forecast_bin": "U1",
}


async def test_llm_forecast_json_answer(llm, fake_openai: FakeOpenAI) -> None:
    fake_openai.reply_json(
        {
            "positive_developments": ["Record quarter"],
            "potential_concerns": ["Valuation"],
            "prediction": "U2",
            "analysis": "Trend intact.",
        }
    )
    forecast = await llm_forecast(
        llm, "AAPL", FACTS, ["Apple unveils watch"], as_of=AS_OF, context=None
    )
    assert forecast is not None
    assert (forecast.bin, forecast.expected_return, forecast.prob_up) == ("U2", 0.015, 0.6)
    prompt = fake_openai.chat_requests()[0].body["messages"][-1]["content"]
    assert "Apple Inc." in prompt and "increased by 1.50% (U2)" in prompt
    assert '<<untrusted source="news">>Apple unveils watch<</untrusted>>' in prompt


async def test_llm_forecast_accepts_the_fingpt_text_format(llm, fake_openai: FakeOpenAI) -> None:
    fake_openai.reply_json({"report": REPORT})
    detail = await llm_forecast_detail(llm, "AAPL", FACTS, [], as_of=AS_OF, context=None)
    assert detail.forecast is not None and detail.forecast.bin == "U3"
    assert detail.answer is not None and detail.answer.potential_concerns == ["China slowdown."]


async def test_malformed_replies_abstain_with_the_reason(llm, fake_openai: FakeOpenAI) -> None:
    # A report missing a section, then a repair that is still not a forecast: abstain.
    fake_openai.reply_json({"report": "[Positive Developments]: fine\n[Prediction & Analysis]: U1"})
    fake_openai.reply_text("sorry")
    detail = await llm_forecast_detail(llm, "AAPL", FACTS, [], as_of=AS_OF, context=None)
    assert detail.forecast is None and "failed validation twice" in str(detail.abstained_reason)
    repair = fake_openai.chat_requests()[1].body["messages"][-1]["content"]
    assert "lacks [Potential Concerns]" in repair  # the model was told what was wrong
    # Valid JSON whose prediction names no bin: abstain, saying so.
    fake_openai.reply_json(
        {
            "positive_developments": [],
            "potential_concerns": [],
            "prediction": "hard to say",
            "analysis": "",
        }
    )
    detail = await llm_forecast_detail(llm, "AAPL", FACTS, [], as_of=AS_OF, context=None)
    assert detail.forecast is None and "no bin" in (detail.abstained_reason or "")
    assert await llm_forecast(llm, "AAPL", FACTS, [], as_of=AS_OF, context=None) is None


async def test_offline_engine_abstains() -> None:
    detail = await llm_forecast_detail(
        OfflineEngine(known_symbols=[]), "AAPL", FACTS, [], as_of=AS_OF, context=None
    )
    assert detail.forecast is None and "quantitative forecast stands alone" in str(
        detail.abstained_reason
    )


def test_json_schema_of_the_answer_lists_the_sections() -> None:
    from orchestrator.analysis.forecast import ForecasterAnswer

    schema = json.dumps(ForecasterAnswer.model_json_schema())
    assert "positive_developments" in schema and "Prediction & Analysis" in schema
