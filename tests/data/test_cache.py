"""The database read-through cache, on SQLite and PostgreSQL: repeats never reach the provider."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy.engine import Engine

from orchestrator.clock import FixedClock
from orchestrator.data.cache import CachedMarketData
from orchestrator.data.csv_provider import CsvMarketData
from orchestrator.domain import NewsItem
from orchestrator.errors import DataError
from tests.data.test_csv_provider import NEWS, YAHOO, _write

NOW = datetime(2020, 1, 8, 12, 0, tzinfo=UTC)


class CountingProvider:
    """A 'remote' provider (csv files underneath) that counts every request it gets."""

    name = "remote"

    def __init__(self, folder: Path) -> None:
        self.inner = CsvMarketData(folder)
        self.requests: list[tuple[Any, ...]] = []

    def get_bars(
        self, symbols: Sequence[str], start: date, end: date, *, as_of: datetime, interval="1d"
    ) -> dict[str, pd.DataFrame]:
        self.requests.append(("bars", tuple(symbols), start, end))
        return self.inner.get_bars(symbols, start, end, as_of=as_of, interval=interval)

    def get_news(
        self,
        symbols: Sequence[str],
        *,
        as_of: datetime,
        since: datetime | None = None,
        limit: int = 50,
    ) -> list[NewsItem]:
        self.requests.append(("news", tuple(symbols), since, as_of))
        return self.inner.get_news(symbols, as_of=as_of, since=since, limit=limit)

    def get_quote(self, symbol: str, *, as_of: datetime):  # type: ignore[no-untyped-def]
        self.requests.append(("quote", symbol))
        return self.inner.get_quote(symbol, as_of=as_of)

    def get_profile(self, symbol: str, *, as_of: datetime):  # type: ignore[no-untyped-def]
        self.requests.append(("profile", symbol))
        return self.inner.get_profile(symbol, as_of=as_of)

    def get_fundamentals(self, symbol: str, *, as_of: datetime):  # type: ignore[no-untyped-def]
        return self.inner.get_fundamentals(symbol, as_of=as_of)


@pytest.fixture
def remote(tmp_path: Path) -> CountingProvider:
    folder = tmp_path / "remote"
    folder.mkdir()
    _write(folder, "ABC.csv", YAHOO)
    _write(folder, "XYZ.csv", YAHOO)
    _write(folder, "news.csv", NEWS)
    return CountingProvider(folder)


def _cached(remote: CountingProvider, engine: Engine, now: datetime = NOW) -> CachedMarketData:
    return CachedMarketData(remote, engine, clock=FixedClock(now))  # type: ignore[arg-type]


def test_a_repeated_bar_request_is_served_from_the_database(
    remote: CountingProvider, engine: Engine
) -> None:
    args = (["ABC", "XYZ"], date(2020, 1, 1), date(2020, 1, 7))
    first = _cached(remote, engine).get_bars(*args, as_of=NOW)
    assert len(remote.requests) == 1
    # A new wrapper (a later process) on the same database: no provider call at all.
    again = _cached(remote, engine).get_bars(*args, as_of=NOW)
    assert len(remote.requests) == 1
    for symbol in ("ABC", "XYZ"):
        pd.testing.assert_frame_equal(first[symbol], again[symbol], check_freq=False)
    # A sub-range and an earlier as_of are inside what was fetched.
    earlier = datetime(2020, 1, 6, 20, 0, tzinfo=UTC)
    part = _cached(remote, engine).get_bars(
        ["ABC"], date(2020, 1, 3), date(2020, 1, 7), as_of=earlier
    )
    assert part["ABC"].index.date.tolist() == [date(2020, 1, 3)]
    assert len(remote.requests) == 1


def test_only_the_missing_symbols_are_fetched(remote: CountingProvider, engine: Engine) -> None:
    cache = _cached(remote, engine)
    cache.get_bars(["ABC"], date(2020, 1, 1), date(2020, 1, 7), as_of=NOW)
    cache.get_bars(["ABC", "XYZ"], date(2020, 1, 1), date(2020, 1, 7), as_of=NOW)
    assert [r[1] for r in remote.requests] == [("ABC",), ("XYZ",)]


def test_bars_not_final_yet_are_fetched_again(remote: CountingProvider, engine: Engine) -> None:
    # At 14:00 New York on 2020-01-07 that session has not closed: it may still change.
    during = datetime(2020, 1, 7, 19, 0, tzinfo=UTC)
    cache = _cached(remote, engine, now=during)
    bars = cache.get_bars(["ABC"], date(2020, 1, 1), date(2020, 1, 7), as_of=during)
    assert bars["ABC"].index[-1].date() == date(2020, 1, 6)
    later = _cached(remote, engine, now=NOW)
    full = later.get_bars(["ABC"], date(2020, 1, 1), date(2020, 1, 7), as_of=NOW)
    assert full["ABC"].index[-1].date() == date(2020, 1, 7)
    assert len(remote.requests) == 2


def test_a_failed_request_stores_nothing(remote: CountingProvider, engine: Engine) -> None:
    cache = _cached(remote, engine)
    with pytest.raises(DataError, match="unknown ticker NOPE"):
        cache.get_bars(["NOPE"], date(2020, 1, 1), date(2020, 1, 7), as_of=NOW)
    with pytest.raises(DataError, match="unknown ticker NOPE"):
        cache.get_bars(["NOPE"], date(2020, 1, 1), date(2020, 1, 7), as_of=NOW)
    assert len(remote.requests) == 2
    with pytest.raises(DataError, match="no bars for ABC"):
        cache.get_bars(["ABC"], date(2019, 1, 1), date(2019, 2, 1), as_of=NOW)


def test_news_windows_are_cached(remote: CountingProvider, engine: Engine) -> None:
    as_of = datetime(2020, 1, 7, 0, 0, tzinfo=UTC)
    first = _cached(remote, engine).get_news(["ABC"], as_of=as_of)
    assert [i.id for i in first] == ["n2", "n1"]
    again = _cached(remote, engine).get_news(["ABC"], as_of=as_of)
    assert again == first
    assert [r[0] for r in remote.requests] == ["news"]
    # Nothing after as_of comes out of the cache either.
    earlier = datetime(2020, 1, 3, 0, 0, tzinfo=UTC)
    assert [i.id for i in _cached(remote, engine).get_news(["ABC"], as_of=earlier)] == ["n1"]
    assert len(remote.requests) == 1


def test_historical_quotes_come_from_cached_bars(remote: CountingProvider, engine: Engine) -> None:
    as_of = datetime(2020, 1, 6, 22, 0, tzinfo=UTC)
    cache = _cached(remote, engine)
    assert cache.get_quote("ABC", as_of=as_of).price == 52.0
    assert cache.get_quote("ABC", as_of=as_of).price == 52.0
    assert [r[0] for r in remote.requests] == ["bars"]


def test_a_full_page_of_news_is_served_again_from_the_cache(
    remote: CountingProvider, engine: Engine
) -> None:
    as_of = datetime(2020, 1, 7, 0, 0, tzinfo=UTC)
    first = _cached(remote, engine).get_news(["ABC"], as_of=as_of, limit=1)
    again = _cached(remote, engine).get_news(["ABC"], as_of=as_of, limit=1)
    assert [i.id for i in first] == [i.id for i in again] == ["n2"]
    assert len(remote.requests) == 1
    # The page did not reach back to n1: asking for two must go to the provider.
    assert [i.id for i in _cached(remote, engine).get_news(["ABC"], as_of=as_of, limit=2)] == [
        "n2",
        "n1",
    ]
    assert len(remote.requests) == 2
