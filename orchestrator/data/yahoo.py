"""The `yfinance` provider: Yahoo Finance through yfinance, batched, with retries.

Failure contract:
- `get_bars` downloads in batches (`yf.download`, grouped by ticker, auto-adjusted). yfinance does
  not raise for a ticker it failed on; it logs and leaves that ticker's columns missing or NaN. We
  detect that and raise one `DataError` naming every failed ticker: no partial result is returned,
  so a caller never mistakes a silent gap for "no data".
- Rate limits are retried with exponential backoff (tenacity); when retries run out, or the network
  is down, `ProviderError` says so ("cannot reach Yahoo Finance ...: check the network").
- News is whatever Yahoo lists now (`Ticker.news`), filtered to (since, as_of]; for an `as_of` in
  the past that is usually nothing, a valid empty list.
- Fundamentals from `.info` describe today, so they are only used when `as_of` is within a day of
  now; otherwise only figures derived from bars known at `as_of` are returned.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

import pandas as pd
from tenacity import (
    RetryError,
    retry,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from orchestrator.clock import Clock, SystemClock
from orchestrator.data.frames import (
    BarSeries,
    check_range,
    fundamentals_from_bars,
    last_known_session,
    quote_from_bars,
)
from orchestrator.data.yahoo_parse import (
    INTRADAY_LENGTHS,
    daily_frame,
    info_figures,
    intraday_frame,
    parse_news_item,
    parse_profile,
    split_download,
)
from orchestrator.domain import CompanyProfile, Fundamentals, NewsItem, Quote
from orchestrator.errors import DataError, ProviderError

T = TypeVar("T")

# Yahoo accepts long ticker lists, but large batches are the ones that get rate-limited.
_BATCH_SIZE = 100
_MAX_ATTEMPTS = 4
_LIVE_WINDOW = timedelta(minutes=15)
_FUNDAMENTALS_WINDOW = timedelta(days=1)
_QUOTE_LOOKBACK_DAYS = 14
_NETWORK_MARKERS = ("resolve host", "could not connect", "connection", "timed out", "curl: (")
_RATE_MARKERS = ("rate limit", "too many requests", "ratelimit")


class _RateLimited(Exception):
    """Yahoo said "too many requests"; tenacity retries on this."""


class _LogCapture(logging.Handler):
    """Collects yfinance's error log lines: the only place it reports per-ticker failures."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


class YFinanceMarketData:
    """`MarketData` over Yahoo Finance (see the module docstring for the failure contract)."""

    name = "yfinance"

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        batch_size: int = _BATCH_SIZE,
        max_attempts: int = _MAX_ATTEMPTS,
        backoff_seconds: float = 2.0,
    ) -> None:
        import yfinance  # imported here: it is slow to import and only this provider needs it

        self._yf = yfinance
        self.clock = clock or SystemClock()
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        # yfinance logs per-ticker failures itself; we report them as one DataError instead.
        logging.getLogger("yfinance").addHandler(logging.NullHandler())

    # --- plumbing --------------------------------------------------------------------------
    def _with_retries(self, call: Callable[[], T], what: str) -> T:
        retrying = retry(
            retry=retry_if_exception_type(_RateLimited),
            stop=stop_after_attempt(self.max_attempts),
            wait=wait_exponential(multiplier=self.backoff_seconds, max=60),
            reraise=False,
        )
        try:
            return retrying(call)()
        except RetryError as exc:
            raise ProviderError(
                f"Yahoo Finance rate-limited {what} {self.max_attempts} times; try again later"
            ) from exc

    def _call(self, call: Callable[[], T], what: str) -> T:
        """Run one yfinance call, mapping rate limits to a retry and network trouble to errors."""

        def attempt() -> T:
            try:
                return call()
            except (DataError, _RateLimited):
                raise
            except Exception as exc:
                text = f"{type(exc).__name__}: {exc}"
                if any(m in text.lower() for m in _RATE_MARKERS):
                    raise _RateLimited(text) from exc
                # curl's messages run to several sentences and a URL; the first one says it.
                short = " ".join(text.split()).split(". ")[0][:160]
                raise ProviderError(
                    f"cannot reach Yahoo Finance for {what} ({short}): check the network"
                ) from exc

        return self._with_retries(attempt, what)

    def _download(self, symbols: list[str], start: date, end: date, interval: str) -> dict:
        def attempt() -> dict[str, pd.DataFrame]:
            capture = _LogCapture()
            logger = logging.getLogger("yfinance")
            logger.addHandler(capture)
            try:
                data = self._yf.download(
                    symbols,
                    start=start.isoformat(),
                    end=(end + timedelta(days=1)).isoformat(),  # yfinance's end is exclusive
                    interval=interval,
                    group_by="ticker",
                    auto_adjust=True,
                    actions=False,
                    progress=False,
                    threads=True,
                    multi_level_index=True,
                )
            finally:
                logger.removeHandler(capture)
            frames = split_download(data, symbols)
            log = " ".join(capture.messages).lower()
            if len(frames) < len(symbols) and any(m in log for m in _RATE_MARKERS):
                raise _RateLimited(log)
            if not frames and any(m in log for m in _NETWORK_MARKERS):
                raise ProviderError(
                    f"cannot reach Yahoo Finance for {', '.join(symbols)}: check the network"
                )
            return frames

        return self._call(attempt, f"bars of {', '.join(symbols)}")

    # --- MarketData ------------------------------------------------------------------------
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
        if interval != "1d" and interval not in INTRADAY_LENGTHS:
            raise DataError(f"yfinance: unsupported interval {interval!r}")
        wanted = [s.upper() for s in symbols]
        last = min(end, last_known_session(as_of)) if interval == "1d" else end
        raw: dict[str, pd.DataFrame] = {}
        if last >= start:
            for first in range(0, len(wanted), self.batch_size):
                raw.update(
                    self._download(wanted[first : first + self.batch_size], start, last, interval)
                )
        bars: dict[str, pd.DataFrame] = {}
        for symbol in wanted:
            frame = raw.get(symbol)
            if frame is None:
                continue
            if interval == "1d":
                bars[symbol] = BarSeries.from_frame(symbol, daily_frame(frame)).slice(
                    start, end, as_of
                )
            else:
                bars[symbol] = intraday_frame(frame, INTRADAY_LENGTHS[interval], as_of)
        failed = [s for s in wanted if s not in bars or bars[s].empty]
        if failed:
            raise DataError(
                f"yfinance returned no data for {', '.join(failed)} between {start.isoformat()} "
                f"and {end.isoformat()} (unknown or delisted ticker, or no session known at "
                f"{as_of.isoformat()})"
            )
        return bars

    def get_quote(self, symbol: str, *, as_of: datetime) -> Quote:
        symbol = symbol.upper()
        now = self.clock.now()
        if now - as_of <= _LIVE_WINDOW:
            price = self._call(
                lambda: self._yf.Ticker(symbol).fast_info["lastPrice"], f"a quote of {symbol}"
            )
            if isinstance(price, int | float) and price > 0:
                return Quote(symbol=symbol, price=float(price), timestamp=min(now, as_of))
        last = last_known_session(as_of)
        start = last - timedelta(days=_QUOTE_LOOKBACK_DAYS)
        bars = self.get_bars([symbol], start, last, as_of=as_of)
        return quote_from_bars(symbol, bars[symbol], as_of, self.name)

    def get_news(
        self,
        symbols: Sequence[str],
        *,
        as_of: datetime,
        since: datetime | None = None,
        limit: int = 50,
    ) -> list[NewsItem]:
        items: dict[str, NewsItem] = {}
        for symbol in (s.upper() for s in symbols):
            raw: Any = self._call(
                functools.partial(self._yf.Ticker(symbol).get_news, count=max(limit, 10)),
                f"news of {symbol}",
            )
            for entry in raw or []:
                item = parse_news_item(entry, symbol) if isinstance(entry, dict) else None
                if item is None or item.published_at > as_of:
                    continue
                if since is not None and item.published_at <= since:
                    continue
                items.setdefault(item.id, item)
        ordered = sorted(items.values(), key=lambda i: i.published_at, reverse=True)
        return ordered[:limit]

    def _info(self, symbol: str) -> dict[str, Any]:
        info = self._call(lambda: self._yf.Ticker(symbol).info, f"the profile of {symbol}")
        return dict(info) if isinstance(info, dict) else {}

    def get_profile(self, symbol: str, *, as_of: datetime) -> CompanyProfile:
        symbol = symbol.upper()
        profile = parse_profile(self._info(symbol), symbol)
        if profile is None:
            raise DataError(f"yfinance: unknown ticker {symbol} (Yahoo has no profile for it)")
        return profile

    def get_fundamentals(self, symbol: str, *, as_of: datetime) -> Fundamentals:
        symbol = symbol.upper()
        last = last_known_session(as_of)
        bars = self.get_bars([symbol], last - timedelta(days=400), last, as_of=as_of)
        derived = fundamentals_from_bars(symbol, bars[symbol], as_of)
        if self.clock.now() - as_of > _FUNDAMENTALS_WINDOW:
            return derived  # .info describes today, not as_of
        figures = info_figures(self._info(symbol))
        merged = {k: v if v is not None else getattr(derived, k) for k, v in figures.items()}
        return Fundamentals(symbol=symbol, as_of=as_of, **merged)
