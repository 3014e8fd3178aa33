"""Local providers (`csv`, `offline`): first parse vs the point-in-time reads a backtest repeats.

    .venv/bin/python bench/data_csv.py [--folder ../shared/data/prices/sp500] [--tickers 50]

Default folder: the bundled sample (15 tickers, 2014-2015, ~30k tweets as news). Measured:
- cold: parsing every price file once (what the first `get_bars` of a process pays);
- point-in-time reads: `get_bars` for one ticker and a 90-day window at 250 successive `as_of`
  days (what a backtest step does per ticker), per call;
- quotes and news windows at successive `as_of`, per call (news only if the folder has news).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestrator.data.csv_provider import CsvMarketData  # noqa: E402
from orchestrator.data.offline import SAMPLE_DIR  # noqa: E402
from orchestrator.errors import DataError  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folder", type=Path, default=SAMPLE_DIR)
    parser.add_argument("--tickers", type=int, default=50, help="at most this many files")
    options = parser.parse_args()

    provider = CsvMarketData(options.folder)
    symbols = provider.symbols()[: options.tickers]
    started = time.perf_counter()
    spans, skipped = [], []
    for symbol in symbols:
        try:
            spans.append(provider.series(symbol))
        except DataError as exc:  # e.g. a header-only file: reported, not fatal here
            skipped.append(f"{symbol} ({str(exc).split(': ', 1)[-1]})")
    cold_ms = (time.perf_counter() - started) * 1000
    symbols = [series.symbol for series in spans]
    rows = sum(len(series.frame) for series in spans)

    last = min(series.last_date for series in spans if series.last_date)
    days = [last - timedelta(days=i) for i in range(250, 0, -1)]
    moments = [datetime(d.year, d.month, d.day, 22, tzinfo=UTC) for d in days]
    symbol = symbols[0]
    timings = []
    for moment in moments:
        begun = time.perf_counter()
        provider.get_bars([symbol], moment.date() - timedelta(days=90), moment.date(), as_of=moment)
        timings.append((time.perf_counter() - begun) * 1e6)
    quotes = []
    for moment in moments:
        begun = time.perf_counter()
        provider.get_quote(symbol, as_of=moment)
        quotes.append((time.perf_counter() - begun) * 1e6)
    news = []
    provider.get_news([symbol], as_of=moments[0])  # builds the news index once
    for moment in moments:
        begun = time.perf_counter()
        provider.get_news([symbol], as_of=moment, since=moment - timedelta(days=1), limit=20)
        news.append((time.perf_counter() - begun) * 1e6)

    print(f"folder {options.folder} ({len(symbols)} tickers, {rows:,} daily rows)")
    if skipped:
        print(f"  skipped {len(skipped)} unreadable: {', '.join(skipped)}")
    print(
        f"  cold parse of every file       {cold_ms:8.1f} ms ({cold_ms / len(symbols):.1f} ms/file)"
    )
    print(f"  get_bars, 90-day window        {statistics.median(timings):8.1f} us median per call")
    print(f"  get_quote                      {statistics.median(quotes):8.1f} us median per call")
    print(f"  get_news, 1-day window, <= 20  {statistics.median(news):8.1f} us median per call")


if __name__ == "__main__":
    main()
