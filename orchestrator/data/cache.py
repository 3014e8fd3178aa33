"""A read-through database cache in front of a remote provider (yfinance, Alpaca).

Daily bars and news are kept in the database (`orchestrator.store.market`) with the ranges that
were fetched completely, so a repeated request is answered without touching the provider, also
in a later process. Only final data is stored: bars of sessions that had closed when they were
fetched, news windows ending no later than the fetch time. A request reaching past "now" is
therefore fetched again next time, which is what a live user wants.

Bars read from the database are also kept in memory per symbol (`BarSeries`) so a backtest that
slices the same history hundreds of times costs a slice, not a query.

Failure contract: the same as the wrapped provider's; its errors propagate and nothing is stored
for a failed request.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pandas as pd
from sqlalchemy.engine import Engine

from orchestrator.clock import Clock, SystemClock
from orchestrator.data.base import MarketData
from orchestrator.data.frames import (
    BarSeries,
    check_range,
    last_known_session,
    quote_from_bars,
    require_bars,
)
from orchestrator.domain import CompanyProfile, Fundamentals, NewsItem, Quote
from orchestrator.store import market as store
from orchestrator.store.db import session_scope

# A quote asked for within this long of the wall clock is "live" and goes to the provider;
# older ones are the last daily close known then, served from cached bars.
_LIVE_QUOTE_WINDOW = timedelta(minutes=15)
# Calendar days fetched before a historical quote's session: covers long holiday closures.
_QUOTE_LOOKBACK_DAYS = 14


@dataclass
class _KnownBars:
    series: BarSeries
    ranges: list[tuple[date, date]]


class CachedMarketData:
    """`MarketData` that answers from the database when it can and fetches the rest."""

    def __init__(self, inner: MarketData, engine: Engine, *, clock: Clock | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.engine = engine
        self.clock = clock or SystemClock()
        self._known: dict[tuple[str, str], _KnownBars] = {}
        self._profiles: dict[str, CompanyProfile] = {}
        self._lock = threading.Lock()

    # --- bars ------------------------------------------------------------------------------
    def _load_known(self, symbol: str, interval: str) -> _KnownBars:
        with session_scope(self.engine) as session:
            frame, ranges = store.load_bar_history(session, self.name, symbol, interval)
        known = _KnownBars(BarSeries.from_frame(symbol, frame), ranges)
        with self._lock:
            self._known[(symbol, interval)] = known
        return known

    def _covered(self, symbol: str, interval: str, start: date, end: date) -> _KnownBars | None:
        known = self._known.get((symbol, interval))
        if known is not None and store.ranges_cover(known.ranges, start, end):
            return known
        known = self._load_known(symbol, interval)  # another process may have fetched it
        return known if store.ranges_cover(known.ranges, start, end) else None

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
        final_end = min(end, last_known_session(as_of), last_known_session(self.clock.now()))
        if interval != "1d" or final_end < start:
            # Intraday bars and ranges with no closed session yet are never final: pass through.
            return self.inner.get_bars(symbols, start, end, as_of=as_of, interval=interval)
        symbols = [s.upper() for s in symbols]
        missing = [s for s in symbols if self._covered(s, interval, start, final_end) is None]
        if missing:
            fetched = self.inner.get_bars(missing, start, final_end, as_of=as_of, interval=interval)
            final = {
                s: frame[frame.index <= pd.Timestamp(final_end)] for s, frame in fetched.items()
            }
            with session_scope(self.engine) as session:
                store.save_bars(
                    session, self.name, interval, final, {s: (start, final_end) for s in missing}
                )
            for symbol in missing:
                self._load_known(symbol, interval)
        bars = {
            s: self._known[(s, interval)].series.slice(start, final_end, as_of) for s in symbols
        }
        require_bars(bars, start, end, self.name)
        return bars

    # --- quotes, news, profiles ------------------------------------------------------------
    def get_quote(self, symbol: str, *, as_of: datetime) -> Quote:
        if self.clock.now() - as_of <= _LIVE_QUOTE_WINDOW:
            return self.inner.get_quote(symbol, as_of=as_of)
        last = last_known_session(as_of)
        start = last - timedelta(days=_QUOTE_LOOKBACK_DAYS)
        bars = self.get_bars([symbol], start, last, as_of=as_of)
        return quote_from_bars(symbol.upper(), bars[symbol.upper()], as_of, self.name)

    def get_news(
        self,
        symbols: Sequence[str],
        *,
        as_of: datetime,
        since: datetime | None = None,
        limit: int = 50,
    ) -> list[NewsItem]:
        symbols = [s.upper() for s in symbols]
        fetch_as_of = min(as_of, self.clock.now())
        with session_scope(self.engine) as session:
            missing = [
                s
                for s in symbols
                if not store.news_range_covers(session, self.name, s, since, fetch_as_of, limit)
            ]
        for symbol in missing:
            items = self.inner.get_news([symbol], as_of=fetch_as_of, since=since, limit=limit)
            # A full page may have cut older items off: only claim the window it really covers,
            # which starts at its oldest item (kept inside the window: it is the page's last
            # one). A tie at that exact microsecond beyond the page is the one thing not seen.
            window_start = (
                since
                if len(items) < limit
                else min(i.published_at for i in items) - timedelta(microseconds=1)
            )
            with session_scope(self.engine) as session:
                store.save_news(session, self.name, items, {symbol: (window_start, fetch_as_of)})
        with session_scope(self.engine) as session:
            return store.load_news(session, self.name, symbols, since, fetch_as_of, limit)

    def get_profile(self, symbol: str, *, as_of: datetime) -> CompanyProfile:
        # Profiles change rarely; one fetch per process is plenty.
        key = symbol.upper()
        if key not in self._profiles:
            self._profiles[key] = self.inner.get_profile(symbol, as_of=as_of)
        return self._profiles[key]

    def get_fundamentals(self, symbol: str, *, as_of: datetime) -> Fundamentals:
        return self.inner.get_fundamentals(symbol, as_of=as_of)
