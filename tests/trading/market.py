"""A small in-test `MarketData` built from DataFrames, honouring the point-in-time rule."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import pandas as pd

from orchestrator.domain import (
    CompanyProfile,
    Fundamentals,
    NewsItem,
    Quote,
    daily_bar_known,
    session_close,
)
from orchestrator.errors import DataError


def bars(rows: dict[str, tuple[float, float, float, float]]) -> pd.DataFrame:
    """{"2015-03-02": (open, high, low, close), ...} -> a bar frame."""
    index = pd.DatetimeIndex([pd.Timestamp(day) for day in rows], name="date")
    values = list(rows.values())
    return pd.DataFrame(
        {
            "open": [v[0] for v in values],
            "high": [v[1] for v in values],
            "low": [v[2] for v in values],
            "close": [v[3] for v in values],
            "volume": [1e6] * len(values),
        },
        index=index,
    )


class FrameMarketData:
    name = "frames"

    def __init__(self, frames: dict[str, pd.DataFrame], news: list[NewsItem] | None = None):
        self.frames = frames
        self.news = news or []

    def _known(self, symbol: str, as_of: datetime) -> pd.DataFrame:
        if symbol not in self.frames:
            raise DataError(f"unknown ticker {symbol}")
        frame = self.frames[symbol]
        mask = [daily_bar_known(stamp.date(), as_of) for stamp in frame.index]
        return frame[mask]

    def get_bars(
        self, symbols: Sequence[str], start: date, end: date, *, as_of: datetime, interval="1d"
    ) -> dict[str, pd.DataFrame]:
        out = {}
        for symbol in symbols:
            known = self._known(symbol, as_of)
            days = known.index.date
            out[symbol] = known[(days >= start) & (days <= end)]
            if out[symbol].empty:
                raise DataError(f"no bars for {symbol}")
        return out

    def get_quote(self, symbol: str, *, as_of: datetime) -> Quote:
        known = self._known(symbol, as_of)
        if known.empty:
            raise DataError(f"no price for {symbol}")
        session = known.index[-1].date()
        return Quote(
            symbol=symbol, price=float(known["close"].iloc[-1]), timestamp=session_close(session)
        )

    def get_news(self, symbols, *, as_of, since=None, limit=50) -> list[NewsItem]:
        wanted = set(symbols)
        items = [n for n in self.news if set(n.symbols) & wanted and n.published_at <= as_of]
        return items[:limit]

    def get_profile(self, symbol: str, *, as_of: datetime) -> CompanyProfile:
        return CompanyProfile(symbol=symbol, name=symbol)

    def get_fundamentals(self, symbol: str, *, as_of: datetime) -> Fundamentals:
        return Fundamentals(symbol=symbol, as_of=as_of)
