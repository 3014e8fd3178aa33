"""The `csv` provider: a folder of price files (and optional news and profiles), point-in-time.

File layouts are described in `orchestrator.data.csv_files`. Parsed files stay in a per-process
LRU keyed by path, modification time and size, so a backtest that asks for the same tickers
hundreds of times parses each file once and then only slices (see `BarSeries.slice`).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from orchestrator.data.csv_files import read_news_file, read_price_file, read_profiles_file
from orchestrator.data.frames import (
    BarSeries,
    check_range,
    fundamentals_from_bars,
    quote_from_bars,
    require_bars,
)
from orchestrator.domain import CompanyProfile, Fundamentals, NewsItem, Quote
from orchestrator.errors import DataError

# Enough for the 290-ticker S&P folder plus the sample, with room; ~200 KB per 20-year frame.
_PRICE_CACHE_SIZE = 2048


def _load_series(path: str, mtime_ns: int, size: int, symbol: str) -> BarSeries:
    loaded = _load_series_once(path, mtime_ns, size, symbol)
    if isinstance(loaded, DataError):
        raise DataError(str(loaded))  # a fresh one: re-raising the cached one grows its traceback
    return loaded


@functools.lru_cache(maxsize=_PRICE_CACHE_SIZE)
def _load_series_once(path: str, _mtime_ns: int, _size: int, symbol: str) -> BarSeries | DataError:
    # A broken or empty file is remembered as broken too (until it changes): a backtest asks
    # for it every session, and parsing it again each time cost minutes.
    try:
        return BarSeries.from_frame(symbol, read_price_file(Path(path)))
    except DataError as exc:
        return exc


_NEWS_TEXT_COLUMNS = ("id", "headline", "summary", "source", "url")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class NewsIndex:
    """News rows sorted by time, with per-symbol positions for O(log n) window lookups."""

    columns: dict[str, np.ndarray]  # column -> object array, aligned with `times`
    times: np.ndarray  # int64 ns UTC, ascending
    by_symbol: dict[str, np.ndarray]  # symbol -> ascending row positions
    # Row -> its NewsItem, made on first use: a cycle asks for the same rows per ticker, in the
    # screen and again in the analysis. Made from plain arrays: a pandas row lookup per window
    # (`iloc` + `to_dict`) cost ~1 ms, ten times the items it made.
    items: list[NewsItem | None]

    @classmethod
    def build(cls, frame: pd.DataFrame) -> NewsIndex:
        frame = frame.sort_values("published_at", kind="stable").reset_index(drop=True)
        times = pd.DatetimeIndex(frame["published_at"]).as_unit("ns").asi8
        positions: dict[str, list[int]] = {}
        for position, symbols in enumerate(frame["symbols"]):
            for symbol in symbols:
                positions.setdefault(symbol, []).append(position)
        by_symbol = {s: np.asarray(p, dtype=np.int64) for s, p in positions.items()}
        columns = {c: frame[c].to_numpy(dtype=object) for c in (*_NEWS_TEXT_COLUMNS, "symbols")}
        return cls(columns=columns, times=times, by_symbol=by_symbol, items=[None] * len(frame))

    def window(
        self, symbols: Sequence[str], since: datetime | None, as_of: datetime, limit: int
    ) -> list[NewsItem]:
        """Items about any of `symbols` with since < published_at <= as_of, newest first."""
        upper = pd.Timestamp(as_of).tz_convert("UTC").value
        lower = pd.Timestamp(since).tz_convert("UTC").value if since is not None else None
        chosen: list[np.ndarray] = []
        for symbol in symbols:
            rows = self.by_symbol.get(symbol)
            if rows is None:
                continue
            times = self.times[rows]
            hi = int(np.searchsorted(times, upper, side="right"))
            lo = int(np.searchsorted(times, lower, side="right")) if lower is not None else 0
            # Only the newest `limit` of each symbol can make the merged top `limit`.
            chosen.append(rows[max(lo, hi - limit) : hi])
        if not chosen or limit <= 0:
            return []
        rows = np.unique(np.concatenate(chosen))[::-1][:limit].tolist()
        items = self.items
        for row in rows:
            if items[row] is None:  # two threads may fill the same row: both make the same item
                items[row] = self._item(row)
        return [item for row in rows if (item := items[row]) is not None]

    def _item(self, row: int) -> NewsItem:
        text = {c: str(self.columns[c][row]) for c in _NEWS_TEXT_COLUMNS}
        nanoseconds = int(self.times[row])
        return NewsItem(
            **text,
            symbols=tuple(self.columns["symbols"][row]),
            # Microseconds, as `Timestamp.to_pydatetime()` gave (news times carry no finer part).
            published_at=_EPOCH + timedelta(microseconds=nanoseconds // 1000),
        )


class CsvMarketData:
    """`MarketData` over a folder of files; daily bars only.

    Failure contract: a ticker without a price file, a malformed file, an interval other than
    "1d", or a range with no bars known at `as_of` raise `DataError` naming the ticker or file.
    No news file means no news (an empty list); a ticker with prices but no news has none.
    """

    def __init__(self, folder: Path, *, name: str = "csv") -> None:
        if not folder.is_dir():
            raise DataError(f"DATA_DIR {folder} is not a folder of <TICKER>.csv(.gz) files")
        self.name = name
        self.folder = folder
        self._news: NewsIndex | None = None
        self._profiles: dict[str, CompanyProfile] | None = None
        self._paths: dict[str, Path] = {}
        self._lock = threading.Lock()

    # --- files -----------------------------------------------------------------------------
    def _price_path(self, symbol: str) -> Path:
        known = self._paths.get(symbol)
        if known is not None:
            return known
        for candidate in (symbol, symbol.upper()):
            for suffix in (".csv", ".csv.gz"):
                path = self.folder / f"{candidate}{suffix}"
                if path.is_file():
                    self._paths[symbol] = path
                    return path
        raise DataError(
            f"{self.name}: unknown ticker {symbol} (no {symbol}.csv or {symbol}.csv.gz in "
            f"{self.folder})"
        )

    def series(self, symbol: str) -> BarSeries:
        """The full parsed history of `symbol` (cached). Raises `DataError` if unknown/bad."""
        path = self._price_path(symbol)
        try:
            stat = path.stat()
        except FileNotFoundError:
            self._paths.pop(symbol, None)
            path = self._price_path(symbol)
            stat = path.stat()
        return _load_series(str(path), stat.st_mtime_ns, stat.st_size, symbol.upper())

    def symbols(self) -> list[str]:
        """Every ticker with a price file in the folder."""
        names = {p.name.split(".")[0] for p in self.folder.iterdir() if p.is_file()}
        return sorted(
            n
            for n in names
            if (self.folder / f"{n}.csv").is_file() or (self.folder / f"{n}.csv.gz").is_file()
            if n.lower() not in ("news", "profiles", "constituents")
        )

    def _news_index(self) -> NewsIndex:
        with self._lock:
            if self._news is None:
                frames = [
                    read_news_file(path)
                    for path in (self.folder / "news.csv", self.folder / "news.csv.gz")
                    if path.is_file()
                ]
                news_dir = self.folder / "news"
                if news_dir.is_dir():
                    for path in sorted(news_dir.iterdir()):
                        if path.name.endswith((".csv", ".csv.gz")):
                            frames.append(read_news_file(path, path.name.split(".")[0]))
                merged = pd.concat(frames, ignore_index=True) if frames else None
                if merged is None:
                    merged = read_news_file_empty()
                self._news = NewsIndex.build(merged.drop_duplicates("id", keep="first"))
            return self._news

    def _profile_table(self) -> dict[str, CompanyProfile]:
        with self._lock:
            if self._profiles is None:
                self._profiles = {}
                for name in ("constituents.csv", "profiles.csv"):
                    path = self.folder / name
                    if path.is_file():
                        self._profiles.update(read_profiles_file(path))
            return self._profiles

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
        if interval != "1d":
            raise DataError(f"{self.name}: only daily bars (interval '1d'), not {interval!r}")
        check_range(start, end)
        bars = {symbol: self.series(symbol).slice(start, end, as_of) for symbol in symbols}
        require_bars(bars, start, end, self.name)
        return bars

    def get_quote(self, symbol: str, *, as_of: datetime) -> Quote:
        return quote_from_bars(symbol, self.series(symbol).known_at(as_of), as_of, self.name)

    def get_news(
        self,
        symbols: Sequence[str],
        *,
        as_of: datetime,
        since: datetime | None = None,
        limit: int = 50,
    ) -> list[NewsItem]:
        for symbol in symbols:
            self._price_path(symbol)  # an unknown ticker is an error, not "no news"
        return self._news_index().window([s.upper() for s in symbols], since, as_of, limit)

    def get_profile(self, symbol: str, *, as_of: datetime) -> CompanyProfile:
        self._price_path(symbol)
        known = self._profile_table().get(symbol.upper())
        return known or CompanyProfile(symbol=symbol.upper(), name=symbol.upper())

    def get_fundamentals(self, symbol: str, *, as_of: datetime) -> Fundamentals:
        return fundamentals_from_bars(symbol, self.series(symbol).known_at(as_of), as_of)


def read_news_file_empty() -> pd.DataFrame:
    """An empty news table with the parsed columns (for a folder without news)."""
    columns = ["id", "symbols", "headline", "summary", "source", "url"]
    frame = pd.DataFrame({column: pd.Series(dtype=object) for column in columns})
    frame["published_at"] = pd.Series(dtype="datetime64[ns, UTC]")
    return frame
