"""Readers for the file layouts the `csv` and `offline` providers accept.

Price files, one per ticker, `<TICKER>.csv` or `<TICKER>.csv.gz`, in any of three layouts
(detected from the header, case-insensitive):

- Yahoo download: `Date,Open,High,Low,Close,Adj Close,Volume`. OHLC are raw; they are scaled by
  `Adj Close / Close` so they become split- and dividend-adjusted. Volume is kept as is (Yahoo
  already reports it split-adjusted).
- yfinance output: `Date,Open,High,Low,Close,Volume[,Dividends,Stock Splits,...]`. Already
  adjusted (auto_adjust); used as is.
- AlphaVantage (../shared/data/prices/sp500): `timestamp,open,high,low,close,adjusted_close,
  volume[,dividend_amount,split_coefficient]`. OHLC are scaled by `adjusted_close / close`; volume
  is multiplied by the cumulative later `split_coefficient` so it is split-adjusted too.

News (optional), either one file `news.csv` / `news.csv.gz` in the data folder, or one file per
ticker `news/<TICKER>.csv(.gz)`. Columns: `id, symbols, published_at, headline` and optionally
`summary, source, url`. `symbols` lists tickers separated by spaces, commas or `|` (a `ticker`
column is accepted instead, and in per-ticker files the ticker defaults to the file name).
`published_at` is ISO 8601; a time without an offset is taken as UTC.

Profiles (optional): `profiles.csv` with `symbol,name[,sector,industry,description,exchange]`, or
an S&P 500 `constituents.csv` with `Symbol,Name,Sector`.

Every reader raises `DataError` naming the file and the problem.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from orchestrator.data.frames import normalize_bars
from orchestrator.domain import CompanyProfile
from orchestrator.errors import DataError

_OHLC = ("open", "high", "low", "close")
_NEWS_REQUIRED = ("id", "published_at", "headline")
_NEWS_TEXT = ("summary", "source", "url")
_SYMBOL_SPLIT = re.compile(r"[\s,|;]+")


def _read_table(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, compression="infer")
    except FileNotFoundError:
        raise
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    frame.columns = [str(column).strip().lower() for column in frame.columns]
    return frame


def _numeric(frame: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(frame[column]):
        # The common case: pandas parsed every cell as a number (empty cells are NaN). The text
        # checks below cost ~10x the parse, so only files with odd cells pay for them.
        return frame[column].to_numpy(float)
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(float)
    raw_missing = (
        frame[column].isna().to_numpy()
        | (frame[column].astype(str).str.strip().str.lower() == "null").to_numpy()
    )
    bad = np.isnan(values) & ~raw_missing
    if bad.any():
        row = int(np.argmax(bad))
        raise DataError(f"{path}: column {column!r} has a non-number {frame[column].iloc[row]!r}")
    return values


def _session_dates(column: pd.Series, path: Path, name: str) -> pd.DatetimeIndex:
    """Session dates from a date column. yfinance writes exchange-local midnights with an offset
    ("2015-01-02 00:00:00-05:00"): the session is the local date, i.e. the first ten characters."""
    try:  # the usual plain YYYY-MM-DD column, parsed without string copies
        return pd.DatetimeIndex(pd.to_datetime(column, format="%Y-%m-%d"))
    except (ValueError, TypeError):
        pass
    text = column.astype(str).str.strip().str.slice(0, 10)
    try:
        return pd.DatetimeIndex(pd.to_datetime(text, format="%Y-%m-%d"))
    except (ValueError, TypeError):
        pass
    try:
        return pd.DatetimeIndex(pd.to_datetime(column, format="mixed")).normalize()
    except (ValueError, TypeError) as exc:
        raise DataError(f"{path}: column {name!r} has a value that is not a date") from exc


def read_price_file(path: Path) -> pd.DataFrame:
    """Parse one price file into a normalized, adjusted daily bar frame.

    Raises `DataError` for an unknown layout, unparseable dates or numbers, or no rows.
    """
    frame = _read_table(path)
    columns = set(frame.columns)
    date_column = "date" if "date" in columns else "timestamp" if "timestamp" in columns else None
    missing = [c for c in (*_OHLC, "volume") if c not in columns]
    if date_column is None or missing:
        wanted = "Date/timestamp" if date_column is None else ", ".join(missing)
        raise DataError(
            f"{path}: unrecognised price layout (missing {wanted}); expected Yahoo "
            "(Date,Open,High,Low,Close,Adj Close,Volume), yfinance or AlphaVantage columns"
        )
    sessions = _session_dates(frame[date_column], path, date_column)
    values = {column: _numeric(frame, column, path) for column in (*_OHLC, "volume")}
    factor: np.ndarray | None = None
    adjusted = "adj close" if "adj close" in columns else None
    adjusted = adjusted or ("adjusted_close" if "adjusted_close" in columns else None)
    if adjusted is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = _numeric(frame, adjusted, path) / values["close"]
        for column in _OHLC:
            values[column] = values[column] * factor
    if "split_coefficient" in columns:
        splits = _numeric(frame, "split_coefficient", path)
        splits = np.where(np.isnan(splits) | (splits <= 0), 1.0, splits)
        order = np.argsort(sessions.to_numpy(), kind="stable")
        ordered = splits[order]
        # Volume before a split is scaled by every split that happened after that day.
        later = np.concatenate([np.cumprod(ordered[::-1])[::-1][1:], [1.0]])
        cumulative = np.empty_like(later)
        cumulative[order] = later
        values["volume"] = values["volume"] * cumulative
    bars = normalize_bars(pd.DataFrame(values, index=sessions))
    if bars.empty:
        raise DataError(f"{path}: no price rows")
    return bars


def _split_symbols(text: object) -> tuple[str, ...]:
    if not isinstance(text, str):
        return ()
    return tuple(dict.fromkeys(s.upper() for s in _SYMBOL_SPLIT.split(text.strip()) if s))


def read_news_file(path: Path, default_symbol: str | None = None) -> pd.DataFrame:
    """Parse a news file into columns id, symbols (tuple), published_at (UTC), headline, ...

    Raises `DataError` naming the file for missing columns or unparseable timestamps.
    """
    frame = _read_table(path)
    missing = [column for column in _NEWS_REQUIRED if column not in frame.columns]
    has_symbols = "symbols" in frame.columns or "ticker" in frame.columns or default_symbol
    if missing or not has_symbols:
        missing = missing + ([] if has_symbols else ["symbols"])
        raise DataError(
            f"{path}: news file lacks column(s) {', '.join(missing)}; expected "
            "id,symbols,published_at,headline[,summary,source,url]"
        )
    if "symbols" in frame.columns:
        symbols = frame["symbols"].map(_split_symbols)
    elif "ticker" in frame.columns:
        symbols = frame["ticker"].map(_split_symbols)
    else:
        symbols = pd.Series([(str(default_symbol).upper(),)] * len(frame), index=frame.index)
    try:
        published = pd.to_datetime(frame["published_at"], format="mixed", utc=True)
    except (ValueError, TypeError) as exc:
        raise DataError(f"{path}: column 'published_at' has a value that is not a time") from exc
    if published.isna().any():
        raise DataError(f"{path}: column 'published_at' has empty values")
    out = pd.DataFrame(
        {
            "id": frame["id"].astype(str).to_numpy(),
            "symbols": symbols.to_numpy(),
            "published_at": published.to_numpy(),
            "headline": frame["headline"].fillna("").astype(str).to_numpy(),
        }
    )
    for column in _NEWS_TEXT:
        out[column] = (
            frame[column].fillna("").astype(str).to_numpy() if column in frame.columns else ""
        )
    return out


def read_profiles_file(path: Path) -> dict[str, CompanyProfile]:
    """Parse `profiles.csv` or a `constituents.csv` into profiles keyed by symbol."""
    frame = _read_table(path)
    if "symbol" not in frame.columns or "name" not in frame.columns:
        raise DataError(f"{path}: profile file needs columns symbol and name")
    profiles: dict[str, CompanyProfile] = {}
    for row in frame.fillna("").astype(str).to_dict("records"):
        symbol = row["symbol"].strip().upper()
        profiles[symbol] = CompanyProfile(
            symbol=symbol,
            name=row["name"].strip() or symbol,
            sector=row.get("sector", "").strip(),
            industry=row.get("industry", "").strip(),
            description=row.get("description", "").strip(),
            exchange=row.get("exchange", "").strip(),
        )
    return profiles
