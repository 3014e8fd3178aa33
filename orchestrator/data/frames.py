"""Bar-frame helpers shared by every provider: point-in-time cut-off, fast slicing, derived figures.

A provider keeps a full, sorted daily frame per symbol and answers each read by slicing it:
`BarSeries.slice` finds both ends with `numpy.searchsorted` on an int64 day array, so a cached read
costs a few microseconds however long the history is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from orchestrator.data.base import BAR_COLUMNS
from orchestrator.domain import EXCHANGE_TZ, SESSION_CLOSE, Fundamentals, Quote, session_close
from orchestrator.errors import DataError

# 52 weeks of calendar days for the 52-week high/low.
_YEAR_DAYS = 365
# About three months of sessions, the window Yahoo uses for "average volume".
_AVG_VOLUME_SESSIONS = 63


def last_known_session(as_of: datetime) -> date:
    """The latest session date whose daily bar is known at `as_of` (may be a non-trading day).

    Same rule as `orchestrator.domain.daily_bar_known`: a session's bar is known from its 16:00
    New York close.
    """
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    local = as_of.astimezone(EXCHANGE_TZ)
    return local.date() if local.time() >= SESSION_CLOSE else local.date() - timedelta(days=1)


def check_range(start: date, end: date) -> None:
    """Raise `DataError` for an inverted date range (a caller's mistake, said plainly)."""
    if start > end:
        raise DataError(f"start {start.isoformat()} is after end {end.isoformat()}")


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def _day_number(day: date) -> int:
    """Days since 1970-01-01, the unit of `BarSeries.days` (plain int: faster than numpy's)."""
    return day.toordinal() - _EPOCH_ORDINAL


def empty_bars() -> pd.DataFrame:
    """A frame with the bar columns and an empty `date` index (never returned to callers)."""
    index = pd.DatetimeIndex([], name="date", dtype="datetime64[ns]")
    return pd.DataFrame({column: pd.Series(dtype=float) for column in BAR_COLUMNS}, index=index)


def normalize_bars(frame: pd.DataFrame) -> pd.DataFrame:
    """Sort, de-duplicate and type a daily bar frame into the protocol's shape.

    Expects lower-case `open, high, low, close, volume` columns and a date-like index; drops rows
    without a close (Yahoo writes "null" rows for suspended days).
    """
    index = pd.DatetimeIndex(pd.to_datetime(frame.index))
    if index.tz is not None:
        index = index.tz_localize(None)
    out = pd.DataFrame(
        {
            column: pd.to_numeric(frame[column], errors="coerce").to_numpy(float)
            for column in BAR_COLUMNS
        },
        index=index.normalize().rename("date"),
    )
    out = out[~np.isnan(out["close"].to_numpy())]
    out = out[~out.index.duplicated(keep="last")].sort_index()
    return out


@dataclass(frozen=True)
class BarSeries:
    """One symbol's full daily history, sorted, with an int64 day array for O(log n) slicing."""

    symbol: str
    frame: pd.DataFrame
    days: np.ndarray  # int64 days since the epoch, ascending, aligned with `frame`

    @classmethod
    def from_frame(cls, symbol: str, frame: pd.DataFrame) -> BarSeries:
        days = frame.index.to_numpy().astype("datetime64[D]").astype(np.int64)
        return cls(symbol=symbol, frame=frame, days=days)

    @property
    def first_date(self) -> date | None:
        return self.frame.index[0].date() if len(self.frame) else None

    @property
    def last_date(self) -> date | None:
        return self.frame.index[-1].date() if len(self.frame) else None

    def slice(self, start: date, end: date, as_of: datetime) -> pd.DataFrame:
        """Bars with `start <= date <= end` whose session had closed by `as_of` (may be empty)."""
        last = min(end, last_known_session(as_of))
        lo = int(np.searchsorted(self.days, _day_number(start), side="left"))
        hi = int(np.searchsorted(self.days, _day_number(last), side="right"))
        return self.frame.iloc[lo:hi] if hi > lo else self.frame.iloc[0:0]

    def known_at(self, as_of: datetime) -> pd.DataFrame:
        """Every bar known at `as_of`."""
        hi = int(np.searchsorted(self.days, _day_number(last_known_session(as_of)), side="right"))
        return self.frame.iloc[:hi]


def require_bars(bars: Mapping[str, pd.DataFrame], start: date, end: date, source: str) -> None:
    """Raise `DataError` naming every symbol whose frame is empty (never a silent empty frame)."""
    empty = sorted(symbol for symbol, frame in bars.items() if frame.empty)
    if empty:
        raise DataError(
            f"{source}: no bars for {', '.join(empty)} between {start.isoformat()} and "
            f"{end.isoformat()} (known at the given as_of); check the tickers and dates"
        )


def quote_from_bars(symbol: str, known: pd.DataFrame, as_of: datetime, source: str) -> Quote:
    """The last daily close known at `as_of`, stamped with its session's close time."""
    if known.empty:
        raise DataError(f"{source}: no price for {symbol} known at {as_of.isoformat()}")
    session = known.index[-1].date()
    return Quote(
        symbol=symbol, price=float(known["close"].iloc[-1]), timestamp=session_close(session)
    )


def fundamentals_from_bars(symbol: str, known: pd.DataFrame, as_of: datetime) -> Fundamentals:
    """52-week high/low and ~3-month average volume from bars known at `as_of`; the rest None."""
    if known.empty:
        return Fundamentals(symbol=symbol, as_of=as_of)
    year_start = known.index[-1] - pd.Timedelta(days=_YEAR_DAYS)
    year = known[known.index > year_start]
    volume = known["volume"].iloc[-_AVG_VOLUME_SESSIONS:]
    return Fundamentals(
        symbol=symbol,
        as_of=as_of,
        week52_high=float(year["high"].max()),
        week52_low=float(year["low"].min()),
        avg_volume=float(volume.mean()),
    )


def trading_sessions(bars: Iterable[pd.DataFrame]) -> list[date]:
    """The union of session dates present in `bars`: a trading-day calendar taken from the data.

    Backtests step over these instead of an exchange calendar so every step has prices.
    """
    days: set[date] = set()
    for frame in bars:
        days.update(stamp.date() for stamp in frame.index)
    return sorted(days)
