"""Analysis tools (read-only): `select_stocks`, `analyze_sentiment`, `forecast`.

They read `ctx.market_data` at `ctx.as_of`, so a backtest's agent sees nothing later. Headlines
in results are outside text and come wrapped by `untrusted()`. `analyze_sentiment` classifies with
`ctx.extras["llm"]` when the caller put its client there, else with the configured one (the
offline lexicon without a key); classifications are cached per item, so asking twice is free.
Failure contract: a missing provider or unknown ticker raises `DataError`, which the registry turns
into a short "error: ..." for the model.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field, field_validator

from orchestrator.analysis.forecast import QuantForecaster, forecaster_facts
from orchestrator.analysis.selection import select_stocks as run_screen
from orchestrator.analysis.sentiment import analyze_news_sentiment
from orchestrator.errors import DataError
from orchestrator.llm import CallContext
from orchestrator.tools.market import SymbolArgs
from orchestrator.tools.registry import UNTRUSTED_NOTICE, ToolContext, tool, untrusted

MAX_TOOL_CANDIDATES = 25  # a longer list would crowd the conversation


class SelectArgs(BaseModel):
    universe: list[str] | None = Field(
        None, description="Tickers to screen (default: the configured UNIVERSE)"
    )
    max_candidates: int | None = Field(
        None, ge=1, le=MAX_TOOL_CANDIDATES, description="How many to return (default: setting)"
    )

    @field_validator("universe")
    @classmethod
    def _upper(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        cleaned = [v.strip().upper().lstrip("$") for v in value if v.strip()]
        return cleaned or None


class SentimentArgs(SymbolArgs):
    days: int = Field(7, ge=1, le=60, description="News from the last N days (default 7)")


def _provider(ctx: ToolContext) -> Any:
    if ctx.market_data is None:
        raise DataError("market data is not configured here (set DATA_PROVIDER)")
    return ctx.market_data


def _as_of(ctx: ToolContext) -> datetime:
    return ctx.as_of or datetime.now(UTC)


@tool(
    name="select_stocks",
    description=(
        "Screen the universe: filters (min price, liquidity) and factor scores (momentum 5/20/60/"
        "120 days, volatility, distance from 52-week high, volume surge, news count, sentiment "
        "change) combined into a rank. Returns the top candidates with every factor value."
    ),
)
def select_stocks(args: SelectArgs, ctx: ToolContext) -> dict[str, Any]:
    settings = ctx.settings
    if args.max_candidates is not None:
        settings = settings.model_copy(update={"max_candidates": args.max_candidates})
    universe = args.universe or list(ctx.settings.universe)
    selection = run_screen(
        _provider(ctx), universe, as_of=_as_of(ctx), holdings=[], settings=settings
    )
    return {
        "as_of": selection.as_of,
        "screened": selection.universe_size,
        "passed_filters": selection.passed_filters,
        "candidates": [
            {"symbol": c.symbol, "score": round(c.score, 3), "factors": c.factors}
            for c in selection.candidates
        ],
        "excluded": dict(list(selection.excluded.items())[:10]),
    }


@tool(
    name="analyze_sentiment",
    description=(
        "News sentiment of a ticker: each recent item labelled positive/negative/neutral with a "
        "score, de-duplicated, and a recency-weighted overall score in [-1, 1]."
    ),
    timeout_seconds=90.0,
)
async def analyze_sentiment(args: SentimentArgs, ctx: ToolContext) -> dict[str, Any]:
    as_of = _as_of(ctx)
    provider = _provider(ctx)
    news = await asyncio.to_thread(
        provider.get_news, [args.symbol], as_of=as_of, since=as_of - timedelta(days=args.days)
    )
    from orchestrator.llm import llm_for_call

    async with llm_for_call(ctx.settings, ctx.engine, ctx.extras.get("llm")) as llm:
        result = await analyze_news_sentiment(
            llm,
            ctx.engine,
            args.symbol,
            news,
            as_of=as_of,
            context=CallContext(cycle_id=ctx.cycle_id, chat_id=ctx.chat_id, as_of=as_of),
        )
    sentiment = result.sentiment
    return {
        "symbol": args.symbol,
        "score": sentiment.score,
        "label": sentiment.label,
        "items": sentiment.n_items,
        "engine": sentiment.engine,
        "notice": UNTRUSTED_NOTICE,
        "newest": [
            {
                "published_at": item.published_at,
                "label": item.label,
                "score": round(item.score, 3),
                "headline": untrusted(item.headline[:200], source="news"),
            }
            for item in result.items[:8]
        ],
        "notes": result.notes,
    }


@tool(
    name="forecast",
    description=(
        "Quantitative 5-trading-day forecast of a ticker: probability of an up move, expected "
        "return and its FinGPT bin (U1..U5+, D1..D5+), with the last 4 weekly moves."
    ),
    timeout_seconds=120.0,  # the first call of a day may train the model
)
def forecast(args: SymbolArgs, ctx: ToolContext) -> dict[str, Any]:
    as_of = _as_of(ctx)
    provider = _provider(ctx)
    model = QuantForecaster.for_settings(ctx.settings, ctx.engine, provider)
    result = model.predict(args.symbol, as_of)
    facts = forecaster_facts(provider, args.symbol, as_of)
    weeks = [
        {key: week[key] for key in ("from", "to", "change_pct", "bin")}
        for week in facts["weekly_moves"]
    ]
    if result is None:
        return {
            "symbol": args.symbol,
            "forecast": None,
            "reason": "not enough history to forecast at this date",
            "weekly_moves": weeks,
        }
    return {
        "symbol": args.symbol,
        "horizon_days": result.horizon_days,
        "prob_up": result.prob_up,
        "expected_return_pct": round(100 * result.expected_return, 2),
        "bin": result.bin,
        "model": result.model,
        "weekly_moves": weeks,
    }
