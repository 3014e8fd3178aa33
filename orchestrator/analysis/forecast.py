"""Forecasts of the next 5 trading days: the quantitative model and the LLM forecaster.

- `QuantForecaster` (in `orchestrator.analysis.quant`, re-exported here): walk-forward trained
  gradient-boosted trees; `QuantForecaster.for_settings(settings, engine, market_data)` then
  `predict(symbol, as_of) -> Forecast | None`.
- `llm_forecast`: the FinGPT-Forecaster format. The prompt (`prompts/forecast.j2`) gives the
  company profile, the last 4 weeks' price moves each with its headlines, basic financials and
  the quantitative forecast; the model answers `[Positive Developments]`, `[Potential Concerns]`
  and `[Prediction & Analysis]` with a bin (U1..U5+, D1..D5+). The answer comes as JSON with those
  sections as fields, or as one `report` text in FinGPT's own section format (models fine-tuned on
  it), which `parse_forecaster_text` reads. A reply without a readable bin abstains with the reason.
  The offline engine has no forecaster: the task abstains, and the quantitative model stands alone
  (echoing it would count the same evidence twice in the decision).

LLM forecast -> `Forecast`: expected return = the bin's midpoint; prob_up = 0.5 +- 0.05 per 1 %
step (0.55 for U1 ... 0.75 for U5 and U5+), a deliberately modest confidence for a text model.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from pydantic import BaseModel, Field, model_validator

from orchestrator.analysis.bins import BINS, bin_midpoint, parse_bin, return_bin
from orchestrator.analysis.quant import QuantForecaster, TrainedModel
from orchestrator.data.base import MarketData
from orchestrator.data.frames import last_known_session
from orchestrator.domain import Forecast, NewsItem
from orchestrator.errors import DataError, ProviderError
from orchestrator.llm import CallContext, LLMClient, register_offline_handler
from orchestrator.tools.registry import UNTRUSTED_NOTICE, untrusted

__all__ = [
    "BINS",
    "ForecasterAnswer",
    "LLMForecast",
    "QuantForecaster",
    "TrainedModel",
    "bin_midpoint",
    "forecaster_facts",
    "llm_forecast",
    "llm_forecast_detail",
    "parse_bin",
    "parse_forecaster_text",
    "return_bin",
]

log = logging.getLogger(__name__)

WEEKS = 4  # FinGPT-Forecaster's look-back: the last four weekly moves, each with its news
HEADLINES_PER_WEEK = 3
NEWS_LIMIT = 60  # news items read for the weekly headlines
BAR_LOOKBACK = timedelta(days=45)  # calendar days of bars for the weekly moves
HEADLINE_CHARS = 200
_SECTION = re.compile(
    r"\[\s*(positive developments|potential concerns|prediction\s*(?:&|and)\s*analysis)\s*\]\s*:?",
    re.I,
)


def _bullets(text: str) -> list[str]:
    lines = [re.sub(r"^\s*(?:[-*•]|\d+[.)])\s*", "", line).strip() for line in text.splitlines()]
    return [line for line in lines if line]


def parse_forecaster_text(text: str) -> dict[str, Any]:
    """The three sections of a FinGPT-Forecaster reply as `ForecasterAnswer` fields.

    Raises ValueError naming what is missing when a section or the prediction is absent.
    """
    parts = _SECTION.split(text)
    sections: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=False):
        key = name.lower().split()[0]
        sections[key] = body.strip()
    missing = [
        label
        for key, label in (
            ("positive", "[Positive Developments]"),
            ("potential", "[Potential Concerns]"),
            ("prediction", "[Prediction & Analysis]"),
        )
        if key not in sections
    ]
    if missing:
        raise ValueError(f"the reply lacks {', '.join(missing)}")
    analysis = sections["prediction"]
    found = re.search(r"prediction\s*:\s*([^\n]+)", analysis, re.I)
    return {
        "positive_developments": _bullets(sections["positive"]),
        "potential_concerns": _bullets(sections["potential"]),
        "prediction": found.group(1).strip() if found else analysis,
        "analysis": analysis,
    }


class ForecasterAnswer(BaseModel):
    """The Forecaster's three sections; `prediction` must name a bin ("U2", "down by 2-3%")."""

    positive_developments: list[str] = Field(description="[Positive Developments], 2-4 bullets")
    potential_concerns: list[str] = Field(description="[Potential Concerns], 2-4 bullets")
    prediction: str = Field(description="The bin for next week: U1..U5, U5+, D1..D5 or D5+")
    analysis: str = Field(description="[Prediction & Analysis]: the reasoning, a few sentences")

    @model_validator(mode="before")
    @classmethod
    def _from_report(cls, data: Any) -> Any:
        # Models fine-tuned on FinGPT-Forecaster write the sections as text: accept that too.
        if (
            isinstance(data, dict)
            and "prediction" not in data
            and isinstance(data.get("report"), str)
        ):
            return parse_forecaster_text(data["report"])
        return data

    @property
    def bin(self) -> str | None:
        return parse_bin(self.prediction)


@dataclass
class LLMForecast:
    forecast: Forecast | None
    answer: ForecasterAnswer | None
    abstained_reason: str | None = None
    tokens: int = 0
    notes: list[str] = field(default_factory=list)


def _offline_forecast(variables: dict[str, Any], schema: type[Any]) -> Any:
    raise LookupError(
        "the offline engine has no LLM forecaster; the quantitative forecast stands alone"
    )


register_offline_handler("forecast", _offline_forecast)


def _confidence(bin_name: str) -> float:
    step = int(bin_name[1])  # "U5+" counts as 5: the cap of a text model's confidence
    return round(0.5 + 0.05 * step * (1 if bin_name[0] == "U" else -1), 3)


async def llm_forecast_detail(
    llm: LLMClient,
    symbol: str,
    facts: dict[str, Any],
    headlines: list[str],
    *,
    as_of: datetime,
    context: CallContext | None,
) -> LLMForecast:
    """Ask the Forecaster; return the parsed answer, or an abstention with its reason.
    `BudgetExceeded` propagates."""
    facts = dict(facts)
    variables = {
        "symbol": symbol,
        "as_of": as_of,
        "profile": facts.pop("profile", None),
        "weeks": facts.pop("weekly_moves", []),
        "financials": facts.pop("financials", {}),
        "facts": facts,
        "headlines": [untrusted(h[:HEADLINE_CHARS], source="news") for h in headlines],
        "untrusted_notice": UNTRUSTED_NOTICE,
    }
    reply = await llm.structured(
        "forecast",
        template="forecast",
        variables=variables,
        schema=ForecasterAnswer,
        context=context or CallContext(as_of=as_of),
    )
    if reply.value is None:
        return LLMForecast(None, None, reply.abstained_reason, reply.tokens)
    chosen = reply.value.bin
    if chosen is None:
        reason = f"no bin in the prediction {reply.value.prediction[:80]!r}"
        return LLMForecast(None, reply.value, reason, reply.tokens)
    forecast = Forecast(
        symbol=symbol,
        as_of=as_of,
        prob_up=_confidence(chosen),
        expected_return=bin_midpoint(chosen),
        bin=chosen,
        model=f"forecaster:{reply.model or reply.engine}",
    )
    return LLMForecast(forecast, reply.value, None, reply.tokens)


async def llm_forecast(
    llm: LLMClient,
    symbol: str,
    facts: dict[str, Any],
    headlines: list[str],
    *,
    as_of: datetime,
    context: CallContext | None,
) -> Forecast | None:
    """The Forecaster's bin as a `Forecast`, or None when it abstains (the reason is logged;
    `llm_forecast_detail` returns it). Optional keys of `facts`: `profile`, `weekly_moves`,
    `financials` (see `forecaster_facts`); the rest is shown as "latest figures"."""
    result = await llm_forecast_detail(llm, symbol, facts, headlines, as_of=as_of, context=context)
    if result.forecast is None:
        log.info("LLM forecast for %s abstained: %s", symbol, result.abstained_reason)
    return result.forecast


def forecaster_news(market_data: MarketData, symbol: str, as_of: datetime) -> list[NewsItem]:
    """The news `forecaster_facts` reads: the last `WEEKS` weeks, newest first."""
    return market_data.get_news(
        [symbol], as_of=as_of, since=as_of - timedelta(weeks=WEEKS), limit=NEWS_LIMIT
    )


def forecaster_facts(
    market_data: MarketData,
    symbol: str,
    as_of: datetime,
    news: list[NewsItem] | None = None,
    bars: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """`profile`, `weekly_moves` (the last 4 weeks, each with up to 3 headlines) and `financials`
    for the Forecaster prompt, all known at `as_of`. `news` (`forecaster_news`) and `bars`
    (daily bars known at `as_of`, at least the last `BAR_LOOKBACK`) are read when not given;
    the cycle passes what it has already read. Provider errors propagate."""
    end = last_known_session(as_of)
    if bars is None:
        bars = market_data.get_bars([symbol], end - BAR_LOOKBACK, end, as_of=as_of)[symbol]
    close = bars["close"]
    if news is None:
        news = forecaster_news(market_data, symbol, as_of)
    weeks = []
    for k in range(WEEKS, 0, -1):
        stop, begin = len(close) - 1 - 5 * (k - 1), len(close) - 1 - 5 * k
        if begin < 0:
            continue
        start_day, end_day = close.index[begin], close.index[stop]
        change = float(close.iloc[stop] / close.iloc[begin] - 1)
        first, last = start_day.date(), end_day.date()
        window = [
            i.headline[:HEADLINE_CHARS] for i in news if first < i.published_at.date() <= last
        ]
        weeks.append(
            {
                "from": start_day.date().isoformat(),
                "to": end_day.date().isoformat(),
                "change_pct": round(100 * change, 2),
                "bin": return_bin(change),
                "headlines": [untrusted(h, source="news") for h in window[:HEADLINES_PER_WEEK]],
            }
        )
    profile = market_data.get_profile(symbol, as_of=as_of)
    try:
        basics = market_data.get_fundamentals(symbol, as_of=as_of)
        financials = basics.model_dump(exclude_none=True, exclude={"symbol", "as_of"})
    except (DataError, ProviderError):
        financials = {}
    return {
        "profile": {
            "name": profile.name,
            "sector": profile.sector,
            "industry": profile.industry,
            "description": untrusted(profile.description[:400], source="company-profile")
            if profile.description
            else "",
        },
        "weekly_moves": weeks,
        "financials": financials,
    }
