"""Tolerant parsing of what yfinance returns: download frames, news dicts and `.info` dicts.

yfinance changes its output shapes between versions (news moved under a `content` key in 0.2.5x;
`download` grew `multi_level_index`); these helpers accept the shapes seen so far and skip what
they cannot read instead of failing a whole request on one odd item.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from orchestrator.data.frames import normalize_bars
from orchestrator.domain import CompanyProfile, NewsItem

# yfinance interval names -> bar length (a bar is known once its length has passed).
INTRADAY_LENGTHS = {
    "1m": timedelta(minutes=1),
    "2m": timedelta(minutes=2),
    "5m": timedelta(minutes=5),
    "15m": timedelta(minutes=15),
    "30m": timedelta(minutes=30),
    "60m": timedelta(hours=1),
    "90m": timedelta(minutes=90),
    "1h": timedelta(hours=1),
}

_PRICE_FIELDS = {"open": "open", "high": "high", "low": "low", "close": "close", "volume": "volume"}


def split_download(data: pd.DataFrame | None, symbols: list[str]) -> dict[str, pd.DataFrame]:
    """Per-symbol raw frames (lower-case columns, NaN rows dropped) from one `yf.download` result.

    A symbol yfinance failed on is absent or all-NaN in `data`; it is left out of the result.
    """
    if data is None or data.empty:
        return {}
    out: dict[str, pd.DataFrame] = {}
    if isinstance(data.columns, pd.MultiIndex):
        level = _ticker_level(data.columns, symbols)
        for symbol in symbols:
            if symbol not in data.columns.get_level_values(level):
                continue
            out[symbol] = data.xs(symbol, axis=1, level=level)
    elif len(symbols) == 1:
        out[symbols[0]] = data
    result = {}
    for symbol, frame in out.items():
        frame = frame.rename(columns=lambda c: str(c).strip().lower())
        if not set(_PRICE_FIELDS) <= set(frame.columns):
            continue
        frame = frame[list(_PRICE_FIELDS)].dropna(subset=["close"])
        if not frame.empty:
            result[symbol] = frame
    return result


def _ticker_level(columns: pd.MultiIndex, symbols: list[str]) -> int:
    for level in range(columns.nlevels):
        if set(columns.get_level_values(level)) & set(symbols):
            return level
    return 0


def daily_frame(raw: pd.DataFrame) -> pd.DataFrame:
    """A raw yfinance daily frame as protocol bars (session-date index)."""
    index = pd.DatetimeIndex(raw.index)
    if index.tz is not None:
        index = index.tz_localize(None)
    return normalize_bars(raw.set_axis(index.normalize(), axis=0))


def intraday_frame(raw: pd.DataFrame, length: timedelta, as_of: datetime) -> pd.DataFrame:
    """Intraday bars with a UTC bar-start index, keeping only bars that had ended by `as_of`."""
    index = pd.DatetimeIndex(raw.index)
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    frame = raw.set_axis(index.rename("date"), axis=0).astype(float).sort_index()
    return frame[frame.index + length <= pd.Timestamp(as_of)]


def _first(mapping: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        value: Any = mapping
        for part in key.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        if value not in (None, ""):
            return value
    return None


def parse_news_item(raw: Mapping[str, Any], symbol: str) -> NewsItem | None:
    """One yfinance news dict (new `content` shape or the older flat shape), or None."""
    content = raw.get("content") if isinstance(raw.get("content"), Mapping) else raw
    assert isinstance(content, Mapping)
    headline = _first(content, "title", "headline")
    item_id = _first(raw, "id", "uuid") or _first(content, "id", "uuid")
    published = _published_at(content)
    if not headline or not item_id or published is None:
        return None
    related = raw.get("relatedTickers") or content.get("relatedTickers") or []
    symbols = tuple(dict.fromkeys([symbol, *(str(s).upper() for s in related)]))
    return NewsItem(
        id=f"yahoo-{item_id}",
        symbols=symbols,
        published_at=published,
        headline=str(headline),
        summary=str(_first(content, "summary", "description") or ""),
        source=str(_first(content, "provider.displayName", "publisher") or "Yahoo Finance"),
        url=str(_first(content, "canonicalUrl.url", "clickThroughUrl.url", "link") or ""),
    )


def _published_at(content: Mapping[str, Any]) -> datetime | None:
    value = _first(content, "pubDate", "displayTime", "providerPublishTime")
    if isinstance(value, int | float) and math.isfinite(value):
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str):
        try:
            stamp = pd.Timestamp(value)
        except ValueError:
            return None
        return (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp).to_pydatetime()
    return None


def _number(info: Mapping[str, Any], key: str) -> float | None:
    value = info.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def parse_profile(info: Mapping[str, Any], symbol: str) -> CompanyProfile | None:
    """A profile from `.info`, or None when the dict names no company (unknown ticker)."""
    name = _first(info, "longName", "shortName", "displayName")
    if not name:
        return None
    return CompanyProfile(
        symbol=symbol,
        name=str(name),
        sector=str(info.get("sector") or ""),
        industry=str(info.get("industry") or ""),
        description=str(info.get("longBusinessSummary") or ""),
        exchange=str(_first(info, "fullExchangeName", "exchange") or ""),
    )


def info_figures(info: Mapping[str, Any]) -> dict[str, float | None]:
    """The `Fundamentals` fields `.info` can supply (None where missing or not a number)."""
    dividend = _number(info, "dividendYield")
    # yfinance >= 0.2.54 (we lock 1.x) reports dividendYield in percent (0.44 = 0.44 %);
    # Fundamentals holds a fraction.
    if dividend is not None:
        dividend = dividend / 100
    return {
        "market_cap": _number(info, "marketCap"),
        "pe_ratio": _number(info, "trailingPE"),
        "eps": _number(info, "trailingEps"),
        "dividend_yield": dividend,
        "beta": _number(info, "beta"),
        "week52_high": _number(info, "fiftyTwoWeekHigh"),
        "week52_low": _number(info, "fiftyTwoWeekLow"),
        "avg_volume": _number(info, "averageVolume"),
    }
