"""The `alpaca` provider: bars and news through alpaca-py's data clients.

`ALPACA_DATA_BASE_URL` (settings.alpaca_data_base_url) overrides the data API host for both
clients, which is how the tests point the real SDK at a loopback fake.

Failure contract:
- Missing keys raise `ConfigError` at construction.
- HTTP errors (bad key, bad request) and network failures raise `ProviderError` saying which.
- `get_bars` raises one `DataError` naming every symbol Alpaca returned no bars for.
- Alpaca has no company profile or fundamentals API: profiles name the symbol only, fundamentals
  are derived from bars (52-week high/low, average volume), the rest None.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

import pandas as pd

from orchestrator.clock import Clock, SystemClock
from orchestrator.config import Settings
from orchestrator.data.frames import (
    BarSeries,
    check_range,
    fundamentals_from_bars,
    last_known_session,
    normalize_bars,
    quote_from_bars,
    require_bars,
)
from orchestrator.domain import EXCHANGE_TZ, CompanyProfile, Fundamentals, NewsItem, Quote
from orchestrator.errors import ConfigError, DataError, ProviderError

T = TypeVar("T")

_LIVE_WINDOW = timedelta(minutes=15)
_QUOTE_LOOKBACK_DAYS = 14
# alpaca-py TimeFrame arguments per interval name.
_INTERVALS: dict[str, tuple[int, str]] = {
    "1d": (1, "Day"),
    "1h": (1, "Hour"),
    "60m": (1, "Hour"),
    "30m": (30, "Minute"),
    "15m": (15, "Minute"),
    "5m": (5, "Minute"),
    "1m": (1, "Minute"),
}


class AlpacaMarketData:
    """`MarketData` over Alpaca's market data API (see the module docstring)."""

    name = "alpaca"

    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        from alpaca.data.historical import StockHistoricalDataClient
        from alpaca.data.historical.news import NewsClient

        if settings.alpaca_api_key is None or settings.alpaca_secret_key is None:
            raise ConfigError("DATA_PROVIDER=alpaca needs ALPACA_API_KEY and ALPACA_SECRET_KEY")
        key = settings.alpaca_api_key.get_secret_value()
        secret = settings.alpaca_secret_key.get_secret_value()
        url = settings.alpaca_data_base_url.rstrip("/") if settings.alpaca_data_base_url else None
        self._bars = StockHistoricalDataClient(key, secret, url_override=url)
        self._news = NewsClient(key, secret, url_override=url)
        self.feed = settings.alpaca_data_feed
        self.clock = clock or SystemClock()
        self.host = url or "https://data.alpaca.markets"

    def _call(self, call: Callable[[], T], what: str) -> T:
        from alpaca.common.exceptions import APIError
        from requests import RequestException

        try:
            return call()
        except APIError as exc:
            raise ProviderError(f"Alpaca refused {what} (HTTP {exc.status_code}): {exc}") from exc
        except RequestException as exc:
            raise ProviderError(
                f"cannot reach Alpaca at {self.host} for {what} ({type(exc).__name__}): "
                "check the network and ALPACA_DATA_BASE_URL"
            ) from exc

    def _fetch(
        self, symbols: list[str], start: datetime, end: datetime, interval: str
    ) -> dict[str, list[Any]]:
        from alpaca.data.enums import Adjustment, DataFeed
        from alpaca.data.requests import StockBarsRequest
        from alpaca.data.timeframe import TimeFrame, TimeFrameUnit

        amount, unit = _INTERVALS[interval]
        request = StockBarsRequest(
            symbol_or_symbols=symbols,
            timeframe=TimeFrame(amount, TimeFrameUnit(unit)),
            start=start,
            end=end,
            adjustment=Adjustment.ALL,
            feed=DataFeed(self.feed),
        )
        barset = self._call(lambda: self._bars.get_stock_bars(request), "bars")
        return dict(barset.data)  # type: ignore[union-attr]

    def get_bars(
        self,
        symbols: Sequence[str],
        start: date,
        end: date,
        *,
        as_of: datetime,
        interval: str = "1d",
    ) -> dict[str, pd.DataFrame]:
        check_range(start, end)
        if interval not in _INTERVALS:
            raise DataError(f"alpaca: unsupported interval {interval!r}")
        wanted = [s.upper() for s in symbols]
        window_start = datetime.combine(start, time(0), tzinfo=EXCHANGE_TZ)
        window_end = min(
            datetime.combine(end + timedelta(days=1), time(0), tzinfo=EXCHANGE_TZ), as_of
        )
        raw = (
            self._fetch(wanted, window_start, window_end, interval)
            if window_end > window_start
            else {}
        )
        bars: dict[str, pd.DataFrame] = {}
        for symbol in wanted:
            rows = raw.get(symbol, [])
            frame = pd.DataFrame(
                {
                    "open": [b.open for b in rows],
                    "high": [b.high for b in rows],
                    "low": [b.low for b in rows],
                    "close": [b.close for b in rows],
                    "volume": [b.volume for b in rows],
                },
                # utc=True: an empty list must still give a tz-aware index to convert below.
                index=pd.DatetimeIndex(
                    pd.to_datetime([b.timestamp for b in rows], utc=True), name="date"
                ),
                dtype=float,
            )
            if interval == "1d":
                # Alpaca stamps a daily bar at the session's start (midnight New York).
                local = frame.index.tz_convert(EXCHANGE_TZ).tz_localize(None).normalize()
                daily = normalize_bars(frame.set_axis(local, axis=0))
                bars[symbol] = BarSeries.from_frame(symbol, daily).slice(start, end, as_of)
            else:
                length = pd.Timedelta(
                    minutes=_INTERVALS[interval][0]
                    * (60 if _INTERVALS[interval][1] == "Hour" else 1)
                )
                utc = frame.set_axis(frame.index.tz_convert("UTC"), axis=0).sort_index()
                bars[symbol] = utc[utc.index + length <= pd.Timestamp(as_of)]
        require_bars(bars, start, end, "alpaca")
        return bars

    def get_quote(self, symbol: str, *, as_of: datetime) -> Quote:
        from alpaca.data.enums import DataFeed
        from alpaca.data.requests import StockLatestTradeRequest

        symbol = symbol.upper()
        now = self.clock.now()
        if now - as_of <= _LIVE_WINDOW:
            request = StockLatestTradeRequest(symbol_or_symbols=symbol, feed=DataFeed(self.feed))
            trades = self._call(lambda: self._bars.get_stock_latest_trade(request), "a quote")
            trade = trades.get(symbol) if isinstance(trades, dict) else None
            if trade is not None and trade.price > 0:
                stamp = min(trade.timestamp.astimezone(UTC), as_of)
                return Quote(symbol=symbol, price=float(trade.price), timestamp=stamp)
        last = last_known_session(as_of)
        bars = self.get_bars(
            [symbol], last - timedelta(days=_QUOTE_LOOKBACK_DAYS), last, as_of=as_of
        )
        return quote_from_bars(symbol, bars[symbol], as_of, self.name)

    def get_news(
        self,
        symbols: Sequence[str],
        *,
        as_of: datetime,
        since: datetime | None = None,
        limit: int = 50,
    ) -> list[NewsItem]:
        from alpaca.data.requests import NewsRequest

        if limit <= 0:
            return []
        request = NewsRequest(
            symbols=",".join(s.upper() for s in symbols),
            start=since,
            end=as_of,
            limit=limit,
            sort="desc",
        )
        newsset = self._call(lambda: self._news.get_news(request), "news")
        items = []
        for article in newsset.data.get("news", []):  # type: ignore[union-attr]
            published = article.created_at
            published = published.replace(tzinfo=UTC) if published.tzinfo is None else published
            # The API's bounds are inclusive; the protocol's window is (since, as_of].
            if published > as_of or (since is not None and published <= since):
                continue
            items.append(
                NewsItem(
                    id=f"alpaca-{article.id}",
                    symbols=tuple(article.symbols),
                    published_at=published,
                    headline=article.headline,
                    summary=article.summary or "",
                    source=article.source or "",
                    url=article.url or "",
                )
            )
        items.sort(key=lambda i: i.published_at, reverse=True)
        return items[:limit]

    def get_profile(self, symbol: str, *, as_of: datetime) -> CompanyProfile:
        return CompanyProfile(symbol=symbol.upper(), name=symbol.upper())

    def get_fundamentals(self, symbol: str, *, as_of: datetime) -> Fundamentals:
        symbol = symbol.upper()
        last = last_known_session(as_of)
        bars = self.get_bars([symbol], last - timedelta(days=400), last, as_of=as_of)
        return fundamentals_from_bars(symbol, bars[symbol], as_of)
