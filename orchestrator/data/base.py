"""The `MarketData` protocol every provider implements.

Failure contract (all providers):
- Every read takes `as_of` and returns nothing dated after it: a daily bar only once its session
  has closed (`orchestrator.domain.daily_bar_known`), news only if `published_at <= as_of`.
- Unknown tickers, empty ranges and malformed sources raise `DataError` naming the tickers;
  network and API failures raise `ProviderError`. An empty result never means "failed".
- Methods are blocking (pandas, HTTP SDKs); async callers use `asyncio.to_thread`.

Bars are a `pandas.DataFrame` per symbol: a `DatetimeIndex` named `date` of session dates
(tz-naive midnight, ascending, unique) and float columns `open, high, low, close, volume`,
split- and dividend-adjusted.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Protocol, runtime_checkable

import pandas as pd

from orchestrator.domain import CompanyProfile, Fundamentals, NewsItem, Quote

BAR_COLUMNS = ("open", "high", "low", "close", "volume")


@runtime_checkable
class MarketData(Protocol):
    """A source of bars, quotes, news, profiles and fundamentals, point-in-time."""

    name: str

    def get_bars(
        self,
        symbols: Sequence[str],
        start: date,
        end: date,
        *,
        as_of: datetime,
        interval: str = "1d",
    ) -> dict[str, pd.DataFrame]:
        """Bars for every symbol between `start` and `end` inclusive, none later than `as_of`.

        Raises `DataError` naming every symbol that has no bars in the range.
        """
        ...

    def get_quote(self, symbol: str, *, as_of: datetime) -> Quote:
        """The latest price known at `as_of`."""
        ...

    def get_news(
        self,
        symbols: Sequence[str],
        *,
        as_of: datetime,
        since: datetime | None = None,
        limit: int = 50,
    ) -> list[NewsItem]:
        """News about any of `symbols` published in (since, as_of], newest first, at most `limit`.

        No news is a valid empty list; a failed request raises `ProviderError`.
        """
        ...

    def get_profile(self, symbol: str, *, as_of: datetime) -> CompanyProfile:
        """Name, sector, industry and a description."""
        ...

    def get_fundamentals(self, symbol: str, *, as_of: datetime) -> Fundamentals:
        """Basic figures known at `as_of`; fields a provider lacks are None."""
        ...
