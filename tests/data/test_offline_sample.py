"""The bundled sample (`DATA_PROVIDER=offline`): small, credited, point-in-time, no network."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from orchestrator.config import DEFAULT_UNIVERSE, load_settings
from orchestrator.data import build_market_data
from orchestrator.data.benchmark import load_benchmark
from orchestrator.data.offline import SAMPLE_DIR, OfflineMarketData, sample_end_as_of
from orchestrator.errors import DataError


def test_sample_is_small_licensed_and_covers_the_default_universe() -> None:
    size = sum(path.stat().st_size for path in SAMPLE_DIR.iterdir())
    assert size < 5 * 1024 * 1024
    licence = (SAMPLE_DIR / "LICENSE-STOCKNET.md").read_text()
    assert "MIT" in licence and "StockNet" in licence
    provider = build_market_data(load_settings(data_provider="offline"))
    assert isinstance(provider, OfflineMarketData)
    assert provider.symbols() == sorted(DEFAULT_UNIVERSE.split(","))


def test_sample_spans_2014_and_2015_with_profiles() -> None:
    provider = OfflineMarketData()
    as_of = sample_end_as_of()
    bars = provider.get_bars(["AAPL", "KO"], date(2013, 1, 1), date(2016, 1, 1), as_of=as_of)
    assert bars["AAPL"].index[0].date() == date(2014, 1, 2)
    assert bars["AAPL"].index[-1].date() == date(2015, 12, 31)
    assert 500 <= len(bars["KO"]) <= 505
    # Apple's 7:1 split in June 2014 is adjusted away.
    june = bars["AAPL"].loc["2014-06-05":"2014-06-10", "close"]
    assert june.max() / june.min() < 1.05
    assert provider.get_profile("aapl", as_of=as_of).name == "Apple Inc."


def test_tweets_are_dated_news_and_never_from_the_future() -> None:
    provider = OfflineMarketData()
    as_of = datetime(2015, 3, 2, 15, 0, tzinfo=UTC)
    items = provider.get_news(["AAPL"], as_of=as_of, limit=20)
    assert len(items) == 20
    assert all(item.published_at <= as_of for item in items)
    assert all("AAPL" in item.symbols for item in items)
    assert items == sorted(items, key=lambda i: i.published_at, reverse=True)
    assert items[0].source == "twitter" and items[0].id.startswith("stocknet-")


def test_quote_is_the_last_close_known_at_the_moment() -> None:
    provider = OfflineMarketData()
    friday_close = datetime(2015, 3, 6, 21, 0, tzinfo=UTC)
    weekend = datetime(2015, 3, 8, 12, 0, tzinfo=UTC)
    assert provider.get_quote("MSFT", as_of=weekend) == provider.get_quote(
        "MSFT", as_of=friday_close
    )
    quote = provider.get_quote("MSFT", as_of=weekend)
    assert quote.timestamp.date() == date(2015, 3, 6)


def test_spy_is_refused_with_the_reason_and_benchmark_falls_back() -> None:
    provider = OfflineMarketData()
    as_of = sample_end_as_of()
    with pytest.raises(DataError, match="SPY is not in the bundled sample"):
        provider.get_bars(["SPY"], date(2015, 1, 1), date(2015, 2, 1), as_of=as_of)
    benchmark = load_benchmark(
        provider, ["AAPL", "MSFT"], date(2015, 1, 1), date(2015, 12, 31), as_of=as_of
    )
    assert "equal-weight" in benchmark.name.lower()
    assert benchmark.levels.iloc[0] == pytest.approx(1.0)
