"""A small in-memory `MarketData` for tool and agent tests (deterministic, point-in-time)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

from orchestrator.domain import CompanyProfile, Fundamentals, NewsItem, Quote, daily_bar_known
from orchestrator.errors import DataError

AS_OF = datetime(2015, 3, 2, 21, 0, tzinfo=UTC)  # after the 2015-03-02 close
PRICES = {"AAPL": 128.0, "MSFT": 43.0, "TSLA": 197.0}


class FakeMarketData:
    name = "fake"

    def __init__(self, *, news_text: str | None = None) -> None:
        self.calls: list[tuple[str, str]] = []
        self.news_text = news_text

    def _check(self, symbol: str) -> None:
        if symbol not in PRICES:
            raise DataError(f"unknown ticker {symbol}")

    def get_bars(
        self,
        symbols: Sequence[str],
        start: date,
        end: date,
        *,
        as_of: datetime,
        interval: str = "1d",
    ) -> dict[str, pd.DataFrame]:
        out = {}
        for symbol in symbols:
            self._check(symbol)
            self.calls.append(("bars", symbol))
            days = [d for d in pd.bdate_range(start, end) if daily_bar_known(d.date(), as_of)]
            n = len(days)
            close = PRICES[symbol] * (1 + 0.001 * np.arange(n) - 0.001 * (n - 1))
            out[symbol] = pd.DataFrame(
                {
                    "open": close * 0.99,
                    "high": close * 1.01,
                    "low": close * 0.98,
                    "close": close,
                    "volume": np.full(n, 1_000_000.0),
                },
                index=pd.DatetimeIndex(days, name="date"),
            )
        return out

    def get_quote(self, symbol: str, *, as_of: datetime) -> Quote:
        self._check(symbol)
        self.calls.append(("quote", symbol))
        return Quote(symbol=symbol, price=PRICES[symbol], timestamp=as_of)

    def get_news(
        self,
        symbols: Sequence[str],
        *,
        as_of: datetime,
        since: datetime | None = None,
        limit: int = 50,
    ) -> list[NewsItem]:
        items = []
        for symbol in symbols:
            self._check(symbol)
            self.calls.append(("news", symbol))
            for i in range(3):
                headline = self.news_text or f"{symbol} headline number {i}"
                items.append(
                    NewsItem(
                        id=f"{symbol}-{i}",
                        symbols=(symbol,),
                        published_at=as_of - timedelta(hours=i + 1),
                        headline=headline,
                        summary=f"summary {i}",
                        source="wire",
                    )
                )
        return items[:limit]

    def get_profile(self, symbol: str, *, as_of: datetime) -> CompanyProfile:
        self._check(symbol)
        return CompanyProfile(
            symbol=symbol, name=f"{symbol} Inc.", sector="Tech", description="Makes things."
        )

    def get_fundamentals(self, symbol: str, *, as_of: datetime) -> Fundamentals:
        self._check(symbol)
        return Fundamentals(symbol=symbol, as_of=as_of, market_cap=1e12, pe_ratio=15.5)
