"""The Alpaca provider: the real alpaca-py data clients against the loopback fake."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest
from sqlalchemy.engine import Engine

from orchestrator.clock import FixedClock
from orchestrator.config import Settings, load_settings
from orchestrator.data import build_market_data
from orchestrator.data.alpaca import AlpacaMarketData
from orchestrator.data.cache import CachedMarketData
from orchestrator.errors import ConfigError, DataError, ProviderError
from tests.fakes.alpaca_data_server import KEY_ID, SECRET, FakeAlpacaData, serve_alpaca_data

NOW = datetime(2024, 3, 8, 22, 0, tzinfo=UTC)


def _bars(base: float) -> pd.DataFrame:
    days = pd.bdate_range("2024-02-26", "2024-03-08")
    close = base + np.arange(len(days), dtype=float)
    return pd.DataFrame(
        {"open": close, "high": close + 1, "low": close - 1, "close": close, "volume": 1e6},
        index=days,
    )


@pytest.fixture
def fake() -> FakeAlpacaData:
    data = FakeAlpacaData(bars={"AAPL": _bars(170.0), "MSFT": _bars(400.0)})
    data.add_news(1, ["AAPL"], datetime(2024, 3, 4, 14, 0, tzinfo=UTC), "Apple one")
    data.add_news(2, ["AAPL", "MSFT"], datetime(2024, 3, 5, 14, 0, tzinfo=UTC), "Both")
    data.add_news(3, ["AAPL"], datetime(2024, 3, 7, 14, 0, tzinfo=UTC), "Apple three")
    return data


@pytest.fixture
def settings(fake: FakeAlpacaData) -> Iterator[Settings]:
    with serve_alpaca_data(fake) as url:
        yield load_settings(
            data_provider="alpaca",
            alpaca_api_key=KEY_ID,
            alpaca_secret_key=SECRET,
            alpaca_data_base_url=url,
        )


def _provider(settings: Settings) -> AlpacaMarketData:
    return AlpacaMarketData(settings, clock=FixedClock(NOW))


def test_daily_bars_through_the_sdk(settings: Settings, fake: FakeAlpacaData) -> None:
    bars = _provider(settings).get_bars(
        ["AAPL", "MSFT"], date(2024, 3, 1), date(2024, 3, 8), as_of=NOW
    )
    assert bars["AAPL"].index.date.tolist()[0] == date(2024, 3, 1)
    assert bars["AAPL"].index[-1] == pd.Timestamp("2024-03-08")
    assert bars["MSFT"]["close"].iloc[-1] == 409.0
    path, params = fake.requests[0]
    assert path == "/v2/stocks/bars" and params["adjustment"] == "all"


def test_bars_and_news_respect_as_of(settings: Settings) -> None:
    as_of = datetime(2024, 3, 6, 15, 0, tzinfo=UTC)  # 10:00 New York
    provider = _provider(settings)
    bars = provider.get_bars(["AAPL"], date(2024, 3, 1), date(2024, 3, 8), as_of=as_of)
    assert bars["AAPL"].index[-1] == pd.Timestamp("2024-03-05")
    news = provider.get_news(["AAPL"], as_of=as_of)
    assert [item.headline for item in news] == ["Both", "Apple one"]
    assert news[0].symbols == ("AAPL", "MSFT") and news[0].id == "alpaca-2"
    since = datetime(2024, 3, 4, 14, 0, tzinfo=UTC)
    assert [i.headline for i in provider.get_news(["AAPL"], as_of=as_of, since=since)] == ["Both"]


def test_unknown_ticker_is_named(settings: Settings) -> None:
    with pytest.raises(DataError, match="alpaca: no bars for ZZZZ between"):
        _provider(settings).get_bars(
            ["AAPL", "ZZZZ"], date(2024, 3, 1), date(2024, 3, 8), as_of=NOW
        )


def test_live_quote_uses_the_latest_trade(settings: Settings) -> None:
    quote = _provider(settings).get_quote("MSFT", as_of=NOW)
    assert quote.price == 409.0


def test_bad_keys_and_no_server_are_provider_errors(settings: Settings) -> None:
    wrong = settings.model_copy(
        update={"alpaca_secret_key": load_settings(alpaca_secret_key="wrong").alpaca_secret_key}
    )
    with pytest.raises(ProviderError, match="Alpaca refused bars \\(HTTP 403\\)"):
        _provider(wrong).get_bars(["AAPL"], date(2024, 3, 1), date(2024, 3, 8), as_of=NOW)
    gone = settings.model_copy(update={"alpaca_data_base_url": "http://127.0.0.1:9"})
    with pytest.raises(ProviderError, match="cannot reach Alpaca at http://127.0.0.1:9"):
        _provider(gone).get_bars(["AAPL"], date(2024, 3, 1), date(2024, 3, 8), as_of=NOW)


def test_missing_keys_fail_at_start() -> None:
    with pytest.raises(ConfigError, match="ALPACA_API_KEY and ALPACA_SECRET_KEY"):
        build_market_data(load_settings(data_provider="alpaca"))


def test_factory_wraps_alpaca_in_the_cache(
    settings: Settings, fake: FakeAlpacaData, sqlite_engine: Engine
) -> None:
    provider = build_market_data(settings, sqlite_engine, clock=FixedClock(NOW))
    assert isinstance(provider, CachedMarketData)
    for _ in range(2):
        provider.get_bars(["AAPL"], date(2024, 3, 1), date(2024, 3, 7), as_of=NOW)
    assert [p for p, _ in fake.requests] == ["/v2/stocks/bars"]
