"""Market-data tools (read-only): quote, price history, news, company profile, fundamentals.

They read `ctx.market_data` at `ctx.as_of` (point in time: a backtest's agent sees nothing later).
Results are compact: the price history is summary statistics plus the last closes, never a bar
dump; news headlines, summaries and company descriptions are outside text and come wrapped by
`untrusted()`. Failure contract: a missing provider or unknown ticker raises `DataError`, which the
registry turns into a short "error: ..." for the model.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field, field_validator

from orchestrator.errors import DataError
from orchestrator.tools.registry import UNTRUSTED_NOTICE, ToolContext, tool, untrusted

# Sessions in a year, to annualise daily volatility.
TRADING_DAYS_PER_YEAR = 252
# Long descriptions and summaries would crowd the context; the gist fits in this many characters.
MAX_DESCRIPTION_CHARS = 600
MAX_SUMMARY_CHARS = 280


class SymbolArgs(BaseModel):
    symbol: str = Field(description="Ticker symbol, e.g. AAPL")

    @field_validator("symbol")
    @classmethod
    def _upper(cls, value: str) -> str:
        value = value.strip().upper().lstrip("$")
        if not value or len(value) > 12:
            raise ValueError("expected a ticker symbol like AAPL")
        return value


class PriceHistoryArgs(SymbolArgs):
    days: int = Field(90, ge=5, le=1825, description="Calendar days to look back (default 90)")
    last_n: int = Field(10, ge=0, le=60, description="How many recent closes to list (default 10)")


class NewsArgs(SymbolArgs):
    limit: int = Field(5, ge=1, le=20, description="Most recent items to return (default 5)")
    days: int | None = Field(None, ge=1, le=365, description="Only news from the last N days")


def _provider(ctx: ToolContext) -> Any:
    if ctx.market_data is None:
        raise DataError("market data is not configured here (set DATA_PROVIDER)")
    return ctx.market_data


def _as_of(ctx: ToolContext) -> datetime:
    return ctx.as_of or datetime.now(UTC)


@tool(name="get_quote", description="Latest known price of a stock or ETF.")
def get_quote(args: SymbolArgs, ctx: ToolContext) -> Any:
    return _provider(ctx).get_quote(args.symbol, as_of=_as_of(ctx))


@tool(
    name="get_price_history",
    description=(
        "Daily price history summary: period return, high/low, volatility, moving averages, "
        "average volume, and the last N closes."
    ),
)
def get_price_history(args: PriceHistoryArgs, ctx: ToolContext) -> dict[str, Any]:
    as_of = _as_of(ctx)
    end = as_of.date()
    start = end - timedelta(days=args.days)
    bars = _provider(ctx).get_bars([args.symbol], start, end, as_of=as_of)[args.symbol]
    return summarize_bars(args.symbol, bars, last_n=args.last_n)


def summarize_bars(symbol: str, bars: Any, *, last_n: int = 10) -> dict[str, Any]:
    """Summary statistics of a bar DataFrame (see `orchestrator.data.base`), JSON-ready."""
    if bars is None or len(bars) == 0:
        raise DataError(f"no price bars for {symbol} in that period")
    close = bars["close"].astype(float)
    returns = close.pct_change().dropna()
    summary: dict[str, Any] = {
        "symbol": symbol,
        "from": bars.index[0].date().isoformat(),
        "to": bars.index[-1].date().isoformat(),
        "sessions": len(bars),
        "first_close": round(float(close.iloc[0]), 4),
        "last_close": round(float(close.iloc[-1]), 4),
        "period_return_pct": round((float(close.iloc[-1]) / float(close.iloc[0]) - 1) * 100, 2),
        "high": round(float(bars["high"].max()), 4),
        "low": round(float(bars["low"].min()), 4),
        "avg_volume": round(float(bars["volume"].mean())),
    }
    if len(returns) >= 2:
        volatility = float(returns.std()) * math.sqrt(TRADING_DAYS_PER_YEAR) * 100
        summary["volatility_annual_pct"] = round(volatility, 2)
    for window in (20, 50):
        if len(close) >= window:
            summary[f"sma{window}"] = round(float(close.tail(window).mean()), 4)
    if last_n:
        tail = close.tail(last_n)
        summary["last_closes"] = [
            [day.date().isoformat(), round(float(value), 4)] for day, value in tail.items()
        ]
    return summary


@tool(
    name="get_news",
    description="Recent news headlines about a ticker, newest first (outside text, untrusted).",
)
def get_news(args: NewsArgs, ctx: ToolContext) -> dict[str, Any]:
    as_of = _as_of(ctx)
    since = as_of - timedelta(days=args.days) if args.days else None
    items = _provider(ctx).get_news([args.symbol], as_of=as_of, since=since, limit=args.limit)
    return {
        "symbol": args.symbol,
        "notice": UNTRUSTED_NOTICE,
        "items": [
            {
                "id": item.id,
                "published_at": item.published_at.isoformat(),
                "source": item.source,
                "headline": untrusted(item.headline, source=f"news:{item.source or 'unknown'}"),
                **(
                    {
                        "summary": untrusted(
                            item.summary[:MAX_SUMMARY_CHARS],
                            source=f"news:{item.source or 'unknown'}",
                        )
                    }
                    if item.summary
                    else {}
                ),
            }
            for item in items[: args.limit]
        ],
    }


@tool(name="get_company_profile", description="Company name, sector, industry and description.")
def get_company_profile(args: SymbolArgs, ctx: ToolContext) -> dict[str, Any]:
    profile = _provider(ctx).get_profile(args.symbol, as_of=_as_of(ctx))
    data = profile.model_dump(exclude_none=True)
    if profile.description:
        data["description"] = untrusted(
            profile.description[:MAX_DESCRIPTION_CHARS], source="company-profile"
        )
    return data


@tool(
    name="get_fundamentals",
    description="Basic fundamentals: market cap, P/E, EPS, dividend yield, beta, 52-week range.",
)
def get_fundamentals(args: SymbolArgs, ctx: ToolContext) -> Any:
    return _provider(ctx).get_fundamentals(args.symbol, as_of=_as_of(ctx))
