"""The yfinance provider with `yfinance.download` patched to return fixture frames.

yfinance reaches Yahoo with hard-coded hosts (there is no base-URL setting to point it at a
loopback fake), so the seam is `download`: the fixture returns what yfinance 1.x returns for a
batch, including its way of failing one ticker silently (all-NaN columns plus an error log line).
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yfinance
from yfinance.exceptions import YFRateLimitError

from orchestrator.clock import FixedClock
from orchestrator.data.yahoo import YFinanceMarketData
from orchestrator.errors import DataError, ProviderError

NOW = datetime(2024, 3, 8, 22, 0, tzinfo=UTC)
SESSIONS = pd.bdate_range("2024-03-01", "2024-03-08")
BASE = {"AAPL": 180.0, "MSFT": 400.0, "KO": 60.0, "XOM": 110.0, "JNJ": 160.0}


def _frame(symbol: str) -> pd.DataFrame:
    """One ticker as yfinance gives it: exchange-local midnights, capitalised columns."""
    close = BASE[symbol] + np.arange(len(SESSIONS), dtype=float)
    index = pd.DatetimeIndex(SESSIONS.tz_localize("America/New_York"), name="Date")
    return pd.DataFrame(
        {
            "Open": close - 0.5,
            "High": close + 1,
            "Low": close - 1,
            "Close": close,
            "Volume": np.full(len(close), 1e6),
        },
        index=index,
    )


class FakeDownload:
    """Stands in for `yfinance.download`; scripted failures, every call recorded."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.rate_limited = 0  # raise YFRateLimitError this many times first
        self.offline = False

    def __call__(self, tickers: list[str], **kwargs: Any) -> pd.DataFrame:
        self.calls.append({"tickers": list(tickers), **kwargs})
        log = logging.getLogger("yfinance")
        if self.rate_limited:
            self.rate_limited -= 1
            raise YFRateLimitError()
        if self.offline:
            log.error("\n%d Failed downloads:", len(tickers))
            log.error("%s: Failed to perform, curl: (6) Could not resolve host", tickers)
            return pd.DataFrame()
        frames = {}
        failed = []
        for ticker in tickers:
            if ticker in BASE:
                frames[ticker] = _frame(ticker)
            else:
                failed.append(ticker)
                frames[ticker] = _frame("AAPL") * np.nan  # yfinance leaves NaN columns
        if failed:
            log.error("\n%d Failed download:\n%s: possibly delisted; no timezone found", 1, failed)
        data = pd.concat(frames, axis=1, names=["Ticker", "Price"])
        start, end = pd.Timestamp(kwargs["start"]), pd.Timestamp(kwargs["end"])
        local = data.index.tz_localize(None)
        return data[(local >= start) & (local < end)]


@pytest.fixture
def download(monkeypatch: pytest.MonkeyPatch) -> FakeDownload:
    fake = FakeDownload()
    monkeypatch.setattr(yfinance, "download", fake)
    return fake


def _provider(**options: Any) -> YFinanceMarketData:
    options.setdefault("backoff_seconds", 0.0)
    return YFinanceMarketData(clock=FixedClock(NOW), **options)


def test_bars_are_batched_and_normalised(download: FakeDownload) -> None:
    bars = _provider().get_bars(["aapl", "MSFT"], date(2024, 3, 1), date(2024, 3, 8), as_of=NOW)
    assert set(bars) == {"AAPL", "MSFT"}
    frame = bars["AAPL"]
    assert list(frame.columns) == ["open", "high", "low", "close", "volume"]
    assert frame.index.tz is None and frame.index[0] == pd.Timestamp("2024-03-01")
    assert frame["close"].tolist() == [180.0 + i for i in range(6)]
    (call,) = download.calls
    assert call["tickers"] == ["AAPL", "MSFT"]
    assert call["end"] == "2024-03-09"  # yfinance's end is exclusive
    assert call["auto_adjust"] is True and call["group_by"] == "ticker"


def test_large_requests_go_in_batches(download: FakeDownload) -> None:
    _provider(batch_size=2).get_bars(list(BASE), date(2024, 3, 1), date(2024, 3, 8), as_of=NOW)
    assert [c["tickers"] for c in download.calls] == [["AAPL", "MSFT"], ["KO", "XOM"], ["JNJ"]]


def test_a_silently_failed_ticker_is_named(download: FakeDownload) -> None:
    with pytest.raises(DataError, match=r"yfinance returned no data for ZZZZ between") as error:
        _provider().get_bars(["AAPL", "ZZZZ"], date(2024, 3, 1), date(2024, 3, 8), as_of=NOW)
    assert "AAPL" not in str(error.value).split("between")[0]


def test_nothing_after_as_of(download: FakeDownload) -> None:
    as_of = datetime(2024, 3, 6, 20, 0, tzinfo=UTC)  # 15:00 New York: March 6 not closed
    bars = _provider().get_bars(["KO"], date(2024, 3, 1), date(2024, 3, 8), as_of=as_of)
    assert bars["KO"].index[-1] == pd.Timestamp("2024-03-05")
    assert download.calls[0]["end"] == "2024-03-06"  # never asks for what it may not see
    quote = _provider().get_quote("KO", as_of=as_of)
    assert quote.price == 62.0 and quote.timestamp.date() == date(2024, 3, 5)


def test_rate_limits_are_retried_then_reported(download: FakeDownload) -> None:
    download.rate_limited = 2
    bars = _provider(max_attempts=3).get_bars(
        ["AAPL"], date(2024, 3, 1), date(2024, 3, 8), as_of=NOW
    )
    assert len(bars["AAPL"]) == 6 and len(download.calls) == 3
    download.rate_limited = 5
    with pytest.raises(ProviderError, match="rate-limited .* 3 times; try again later"):
        _provider(max_attempts=3).get_bars(["AAPL"], date(2024, 3, 1), date(2024, 3, 8), as_of=NOW)


def test_no_network_says_so(download: FakeDownload) -> None:
    download.offline = True
    with pytest.raises(
        ProviderError, match="cannot reach Yahoo Finance for AAPL: check the network"
    ):
        _provider().get_bars(["AAPL"], date(2024, 3, 1), date(2024, 3, 8), as_of=NOW)


def test_empty_and_inverted_ranges(download: FakeDownload) -> None:
    with pytest.raises(DataError, match="start 2024-03-08 is after end 2024-03-01"):
        _provider().get_bars(["AAPL"], date(2024, 3, 8), date(2024, 3, 1), as_of=NOW)
    with pytest.raises(DataError, match="no data for AAPL"):
        _provider().get_bars(["AAPL"], date(2023, 1, 2), date(2023, 1, 6), as_of=NOW)
