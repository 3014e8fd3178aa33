"""The `csv` provider: three price layouts, split adjustment, point-in-time reads, clear errors."""

from __future__ import annotations

import gzip
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from orchestrator.config import load_settings
from orchestrator.data import build_market_data
from orchestrator.data.csv_provider import CsvMarketData
from orchestrator.errors import ConfigError, DataError

# Closes of a ticker that split 2:1 after 2020-01-03; Adj Close is the split-adjusted close.
YAHOO = """Date,Open,High,Low,Close,Adj Close,Volume
2020-01-02,100,102,99,100,50,1000
2020-01-03,101,103,100,102,51,1100
2020-01-06,52,53,51,52,52,2400
2020-01-07,53,54,52,53.5,53.5,2500
"""
YFINANCE = """Date,Open,High,Low,Close,Volume,Dividends,Stock Splits
2020-01-02 00:00:00-05:00,10.0,11.0,9.5,10.5,500,0.0,0.0
2020-01-03 00:00:00-05:00,10.5,11.5,10.0,11.0,600,0.0,0.0
"""
ALPHAVANTAGE = (
    "timestamp,open,high,low,close,adjusted_close,volume,dividend_amount,split_coefficient\n"
    """2020-01-07,53,54,52,53.5,53.5,2500,0.0,1.0
2020-01-06,52,53,51,52,52,2400,0.0,2.0
2020-01-03,101,103,100,102,51,1100,0.0,1.0
2020-01-02,100,102,99,100,50,1000,0.0,1.0
"""
)
NEWS = """id,symbols,published_at,headline,summary,source,url
n1,ABC,2020-01-02T15:00:00Z,ABC opens a factory,,wire,
n2,ABC XYZ,2020-01-03T21:30:00Z,ABC and XYZ merge talks,talks,wire,https://x.invalid/2
n3,XYZ,2020-01-06T14:00:00Z,XYZ only,,wire,
n4,ABC,2020-01-07 10:00:00,ABC after the split,,blog,
"""


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    if name.endswith(".gz"):
        with gzip.open(path, "wt") as handle:
            handle.write(text)
    else:
        path.write_text(text)
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    data = tmp_path / "prices"
    data.mkdir()
    _write(data, "ABC.csv", YAHOO)
    _write(data, "YFI.csv.gz", YFINANCE)
    _write(data, "AVT.csv", ALPHAVANTAGE)
    _write(data, "news.csv", NEWS)
    _write(data, "XYZ.csv", YAHOO)
    return data


AFTER_ALL = datetime(2020, 1, 8, 12, tzinfo=UTC)


def test_yahoo_layout_is_split_and_dividend_adjusted(folder: Path) -> None:
    bars = CsvMarketData(folder).get_bars(
        ["ABC"], date(2020, 1, 1), date(2020, 1, 7), as_of=AFTER_ALL
    )["ABC"]
    assert list(bars.columns) == ["open", "high", "low", "close", "volume"]
    assert bars["close"].tolist() == [50.0, 51.0, 52.0, 53.5]  # no fake halving on the split day
    assert bars["open"].iloc[0] == pytest.approx(50.0)  # 100 * 50/100
    assert bars["high"].iloc[1] == pytest.approx(103 * 51 / 102)
    assert bars.index.name == "date" and bars.index.is_monotonic_increasing


def test_yfinance_layout_is_used_as_is(folder: Path) -> None:
    bars = CsvMarketData(folder).get_bars(
        ["yfi"], date(2020, 1, 1), date(2020, 1, 3), as_of=AFTER_ALL
    )["yfi"]
    assert bars.index.date.tolist() == [date(2020, 1, 2), date(2020, 1, 3)]
    assert bars["close"].tolist() == [10.5, 11.0]


def test_alphavantage_layout_scales_prices_and_volume(folder: Path) -> None:
    bars = CsvMarketData(folder).get_bars(
        ["AVT"], date(2020, 1, 1), date(2020, 1, 7), as_of=AFTER_ALL
    )["AVT"]
    assert bars["close"].tolist() == [50.0, 51.0, 52.0, 53.5]
    # Volume before the 2:1 split counts pre-split shares: doubled to be comparable.
    assert bars["volume"].tolist() == [2000.0, 2200.0, 2400.0, 2500.0]


def test_real_sp500_file_is_split_adjusted(shared_data: Path) -> None:
    provider = CsvMarketData(shared_data / "prices" / "sp500")
    bars = provider.get_bars(
        ["AAPL"], date(2014, 6, 5), date(2014, 6, 9), as_of=datetime(2015, 1, 1, tzinfo=UTC)
    )["AAPL"]
    # Apple split 7:1 on 2014-06-09; adjusted closes move by about 1%, not by a factor of 7.
    closes = bars["close"].tolist()
    assert len(closes) == 3 and max(closes) / min(closes) < 1.05


def test_bars_are_point_in_time(folder: Path) -> None:
    provider = CsvMarketData(folder)
    before_close = datetime(2020, 1, 6, 20, 59, tzinfo=UTC)  # 15:59 New York
    after_close = datetime(2020, 1, 6, 21, 0, tzinfo=UTC)
    early = provider.get_bars(["ABC"], date(2020, 1, 1), date(2020, 1, 31), as_of=before_close)
    late = provider.get_bars(["ABC"], date(2020, 1, 1), date(2020, 1, 31), as_of=after_close)
    assert early["ABC"].index[-1].date() == date(2020, 1, 3)
    assert late["ABC"].index[-1].date() == date(2020, 1, 6)
    assert provider.get_quote("ABC", as_of=before_close).price == 51.0
    fundamentals = provider.get_fundamentals("ABC", as_of=before_close)
    assert fundamentals.week52_high == pytest.approx(103 * 51 / 102)


def test_news_is_point_in_time_and_by_symbol(folder: Path) -> None:
    provider = CsvMarketData(folder)
    as_of = datetime(2020, 1, 6, 14, 0, tzinfo=UTC)
    abc = provider.get_news(["ABC"], as_of=as_of)
    assert [item.id for item in abc] == ["n2", "n1"]  # newest first, n4 is later
    assert abc[0].symbols == ("ABC", "XYZ") and abc[0].url == "https://x.invalid/2"
    assert [i.id for i in provider.get_news(["XYZ"], as_of=as_of)] == ["n3", "n2"]
    since = datetime(2020, 1, 2, 15, 0, tzinfo=UTC)  # exclusive lower bound
    assert [i.id for i in provider.get_news(["ABC"], as_of=as_of, since=since)] == ["n2"]
    assert [i.id for i in provider.get_news(["ABC"], as_of=AFTER_ALL, limit=1)] == ["n4"]
    assert provider.get_news(["YFI"], as_of=AFTER_ALL) == []  # prices but no news: none


def test_unknown_ticker_and_empty_range_are_errors(folder: Path) -> None:
    provider = CsvMarketData(folder)
    with pytest.raises(DataError, match=r"unknown ticker NOPE \(no NOPE.csv or NOPE.csv.gz"):
        provider.get_bars(["ABC", "NOPE"], date(2020, 1, 1), date(2020, 1, 7), as_of=AFTER_ALL)
    with pytest.raises(DataError, match="no bars for ABC between 2021-01-01 and 2021-02-01"):
        provider.get_bars(["ABC"], date(2021, 1, 1), date(2021, 2, 1), as_of=AFTER_ALL)
    with pytest.raises(DataError, match="start 2020-01-07 is after end 2020-01-01"):
        provider.get_bars(["ABC"], date(2020, 1, 7), date(2020, 1, 1), as_of=AFTER_ALL)
    with pytest.raises(DataError, match="unknown ticker NOPE"):
        provider.get_news(["NOPE"], as_of=AFTER_ALL)
    with pytest.raises(DataError, match="only daily bars"):
        provider.get_bars(
            ["ABC"], date(2020, 1, 1), date(2020, 1, 7), as_of=AFTER_ALL, interval="5m"
        )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Day,Price\n2020-01-02,1\n", r"BAD.csv: unrecognised price layout \(missing Date"),
        ("Date,Open,High,Low,Volume\n2020-01-02,1,1,1,1\n", r"missing close.*expected Yahoo"),
        (YAHOO.replace("101,103", "1O1,103"), r"column 'open' has a non-number '1O1'"),
        (YAHOO.replace("2020-01-03", "Jan the third"), r"column 'date' has a value that is not"),
        ("", r"cannot read .*BAD.csv"),
        ("Date,Open,High,Low,Close,Volume\n", r"BAD.csv: no price rows"),
    ],
)
def test_broken_files_say_which_file_and_what(folder: Path, text: str, message: str) -> None:
    _write(folder, "BAD.csv", text)
    with pytest.raises(DataError, match=message):
        CsvMarketData(folder).get_bars(["BAD"], date(2020, 1, 1), date(2020, 1, 7), as_of=AFTER_ALL)


def test_broken_news_file_is_named(folder: Path) -> None:
    _write(folder, "news.csv", "id,headline\nx,y\n")
    with pytest.raises(DataError, match=r"news.csv: news file lacks column\(s\) published_at"):
        CsvMarketData(folder).get_news(["ABC"], as_of=AFTER_ALL)


def test_yahoo_null_rows_are_skipped(folder: Path) -> None:
    _write(folder, "NUL.csv", YAHOO.replace("52,53,51,52,52,2400", "null,null,null,null,null,null"))
    bars = CsvMarketData(folder).get_bars(
        ["NUL"], date(2020, 1, 1), date(2020, 1, 7), as_of=AFTER_ALL
    )["NUL"]
    assert len(bars) == 3


def test_settings_select_the_folder(folder: Path) -> None:
    provider = build_market_data(load_settings(data_provider="csv", data_dir=folder))
    assert provider.name == "csv"
    with pytest.raises(ConfigError, match="DATA_PROVIDER=csv needs DATA_DIR"):
        build_market_data(load_settings(data_provider="csv"))
    with pytest.raises(ConfigError, match="DATA_DIR=.*not a folder"):
        build_market_data(load_settings(data_provider="csv", data_dir=folder / "nope"))


def test_a_changed_file_is_read_again(folder: Path) -> None:
    provider = CsvMarketData(folder)
    later = datetime(2020, 1, 9, tzinfo=UTC)
    args = (["ABC"], date(2020, 1, 1), date(2020, 1, 8))
    assert len(provider.get_bars(*args, as_of=later)["ABC"]) == 4
    _write(folder, "ABC.csv", YAHOO + "2020-01-08,54,55,53,54,54,2600\n")
    assert len(provider.get_bars(*args, as_of=later)["ABC"]) == 5
