"""The `offline` provider: the bundled StockNet sample (15 large caps, 2014-2015, with tweets).

It is the `csv` provider over `orchestrator/sample_data/` (see `orchestrator.data.csv_files` for
the layout), plus one rule: the sample holds no index ETF (SPY's licence is unclear), so asking for
SPY raises a `DataError` that says so. Callers that need a benchmark fall back to an equal-weight
index of the universe (`orchestrator.data.benchmark.load_benchmark`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd

from orchestrator.data.csv_provider import CsvMarketData
from orchestrator.domain import CompanyProfile, Fundamentals, NewsItem, Quote, session_close
from orchestrator.errors import DataError

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "sample_data"
SAMPLE_FIRST_SESSION = date(2014, 1, 2)
SAMPLE_LAST_SESSION = date(2015, 12, 31)
# Index ETFs people ask for as a benchmark; none is in the sample.
_INDEX_SYMBOLS = frozenset({"SPY", "^GSPC", "IVV", "VOO"})


def sample_end_as_of() -> datetime:
    """The moment the sample's last bar is known (the demo's default `as_of`), in UTC."""
    return session_close(SAMPLE_LAST_SESSION).astimezone(UTC)


class OfflineMarketData(CsvMarketData):
    """The bundled sample; same contract as `CsvMarketData`, and SPY raises `DataError`."""

    def __init__(self, folder: Path = SAMPLE_DIR) -> None:
        if not (folder / "profiles.csv").is_file():
            raise DataError(
                f"the bundled sample is missing from {folder}; reinstall the package or run "
                "`python bench/build_sample.py`"
            )
        super().__init__(folder, name="offline")

    @staticmethod
    def _refuse_index(symbols: Sequence[str]) -> None:
        wanted = sorted({s.upper() for s in symbols} & _INDEX_SYMBOLS)
        if wanted:
            raise DataError(
                f"offline: {', '.join(wanted)} is not in the bundled sample (its licence is "
                "unclear); use an equal-weight index of the universe as the benchmark"
            )

    def get_bars(
        self,
        symbols: Sequence[str],
        start: date,
        end: date,
        *,
        as_of: datetime,
        interval: str = "1d",
    ) -> dict[str, pd.DataFrame]:
        self._refuse_index(symbols)
        return super().get_bars(symbols, start, end, as_of=as_of, interval=interval)

    def get_quote(self, symbol: str, *, as_of: datetime) -> Quote:
        self._refuse_index([symbol])
        return super().get_quote(symbol, as_of=as_of)

    def get_news(
        self,
        symbols: Sequence[str],
        *,
        as_of: datetime,
        since: datetime | None = None,
        limit: int = 50,
    ) -> list[NewsItem]:
        self._refuse_index(symbols)
        return super().get_news(symbols, as_of=as_of, since=since, limit=limit)

    def get_profile(self, symbol: str, *, as_of: datetime) -> CompanyProfile:
        self._refuse_index([symbol])
        return super().get_profile(symbol, as_of=as_of)

    def get_fundamentals(self, symbol: str, *, as_of: datetime) -> Fundamentals:
        self._refuse_index([symbol])
        return super().get_fundamentals(symbol, as_of=as_of)
