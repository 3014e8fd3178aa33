"""Market data for the faces: bars, news, the universe, and the offline demo set-up.

Functions are async; the blocking provider calls run in a worker thread (`asyncio.to_thread`).
Errors: `DataError`/`ProviderError`/`ConfigError` (all `UserFacingError`) propagate with text a
user can act on.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pandas as pd

from orchestrator.config import Settings, get_settings, load_settings
from orchestrator.data import MarketData, build_market_data
from orchestrator.data.offline import OfflineMarketData, sample_end_as_of
from orchestrator.domain import EXCHANGE_TZ, NewsItem
from orchestrator.errors import DataError, ProviderError

# Tickers per provider call when fetching many: small enough for a lively progress bar, large
# enough that yfinance still batches.
_PROGRESS_BATCH = 25

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class BarRow:
    session: date
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True)
class SymbolBars:
    symbol: str
    rows: tuple[BarRow, ...]


@dataclass(frozen=True)
class UniverseMember:
    symbol: str
    name: str
    sector: str
    first_session: date | None
    last_session: date | None


_providers: dict[tuple[str, ...], MarketData] = {}
_providers_lock = threading.Lock()


def market_data(settings: Settings | None = None) -> MarketData:
    """The configured provider, built once per process for each data configuration."""
    settings = settings or get_settings()
    key = (
        settings.data_provider,
        str(settings.data_dir),
        settings.database_url,
        str(settings.alpaca_data_base_url),
    )
    with _providers_lock:
        if key not in _providers:
            _providers[key] = build_market_data(settings)
        return _providers[key]


def configured_universe() -> list[str]:
    """The UNIVERSE setting's tickers."""
    return list(get_settings().universe)


def demo_settings(**overrides: object) -> Settings:
    """Settings for the offline demo: the bundled sample, whatever DATA_PROVIDER says."""
    return load_settings(**{"data_provider": "offline", **overrides})


def offline_market_data() -> OfflineMarketData:
    """The bundled sample provider (no network, no keys)."""
    return OfflineMarketData()


def demo_as_of() -> datetime:
    """The demo's moment: the close of the sample's last session."""
    return sample_end_as_of()


def parse_date(text: str, option: str) -> date:
    """A YYYY-MM-DD date typed by a user; `DataError` naming the option otherwise."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise DataError(f"{option} {text!r} is not a valid date (expected YYYY-MM-DD)") from None


def parse_as_of(text: str | None, option: str = "--as-of") -> datetime:
    """Now when empty; a date means the end of that day in New York; a time without an offset
    is New York time (the exchange's)."""
    if not text:
        return datetime.now(ZoneInfo("UTC"))
    text = text.strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(23, 59, 59), EXCHANGE_TZ)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise DataError(
            f"{option} {text!r} is not a valid date or time (expected YYYY-MM-DD or "
            "YYYY-MM-DDTHH:MM[+HH:MM])"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=EXCHANGE_TZ)


def _rows(frame: pd.DataFrame) -> tuple[BarRow, ...]:
    return tuple(
        BarRow(stamp.date(), *(float(v) for v in values))
        for stamp, values in zip(
            frame.index, frame[["open", "high", "low", "close", "volume"]].to_numpy(), strict=True
        )
    )


async def fetch_bars(
    symbols: Sequence[str],
    start: date,
    end: date,
    *,
    as_of: datetime,
    provider: MarketData | None = None,
    on_progress: ProgressCallback | None = None,
) -> list[SymbolBars]:
    """Daily bars per symbol, fetched in batches; `on_progress(done, total)` after each batch.

    Raises `DataError` for a bad range or tickers without bars (all named), `ProviderError` when
    the provider cannot be reached.
    """
    if start > end:
        raise DataError(f"start {start.isoformat()} is after end {end.isoformat()}")
    source = provider or market_data()
    wanted = list(dict.fromkeys(s.strip().upper() for s in symbols if s.strip()))
    if not wanted:
        raise DataError("no ticker given")
    frames: dict[str, pd.DataFrame] = {}
    for first in range(0, len(wanted), _PROGRESS_BATCH):
        batch = wanted[first : first + _PROGRESS_BATCH]
        frames.update(await asyncio.to_thread(source.get_bars, batch, start, end, as_of=as_of))
        if on_progress is not None:
            on_progress(min(first + _PROGRESS_BATCH, len(wanted)), len(wanted))
    return [SymbolBars(symbol, _rows(frames[symbol])) for symbol in wanted]


async def fetch_news(
    symbol: str,
    *,
    as_of: datetime,
    since: datetime | None = None,
    limit: int = 10,
    provider: MarketData | None = None,
) -> list[NewsItem]:
    """The newest `limit` news items about `symbol` published by `as_of`."""
    if limit < 1:
        raise DataError(f"--limit must be at least 1, not {limit}")
    source = provider or market_data()
    return await asyncio.to_thread(
        source.get_news, [symbol.strip().upper()], as_of=as_of, since=since, limit=limit
    )


async def universe(
    *,
    as_of: datetime,
    symbols: Sequence[str] | None = None,
    provider: MarketData | None = None,
    on_progress: ProgressCallback | None = None,
) -> list[UniverseMember]:
    """The configured universe with names, sectors and the first/last sessions known at `as_of`.

    Reads one year back from `as_of` for the last session (and the whole sample when offline).
    A member with no bars shows no dates rather than failing the whole list.
    """
    source = provider or market_data()
    wanted = list(symbols) if symbols is not None else configured_universe()

    def describe(symbol: str) -> UniverseMember:
        profile = source.get_profile(symbol, as_of=as_of)
        first = last = None
        series = getattr(source, "series", None)  # local providers know the whole history
        if callable(series):
            known = series(symbol).known_at(as_of)
            if len(known):
                first, last = known.index[0].date(), known.index[-1].date()
        else:
            try:
                end = as_of.astimezone(EXCHANGE_TZ).date()
                frame = source.get_bars([symbol], date(end.year - 1, 1, 1), end, as_of=as_of)[
                    symbol
                ]
                first, last = frame.index[0].date(), frame.index[-1].date()
            except ProviderError:
                raise
            except DataError:
                pass  # shown without dates; the member stays in the list
        return UniverseMember(symbol, profile.name, profile.sector, first, last)

    members = []
    for done, symbol in enumerate(wanted, start=1):
        members.append(await asyncio.to_thread(describe, symbol))
        if on_progress is not None:
            on_progress(done, len(wanted))
    return members
