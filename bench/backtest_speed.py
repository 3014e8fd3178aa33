"""Backtest speed: sessions per second of the offline engine over N tickers (target: one year x
50 tickers, daily, under 60 s on the 2-core machine).

    .venv/bin/python bench/backtest_speed.py --data-dir ../shared/data/prices/sp500 \
        --tickers 50 --start 2014-01-02 --end 2014-12-31 [--rebalance daily]

Tickers are the first N readable files of the folder in alphabetical order (SPY excluded), so
the command is reproducible. Prints one JSON line: sessions, seconds, sessions/s, and the
per-step time of an average cycle. Runs in a temporary folder (its own SQLite ledger) and leaves
nothing behind.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
from datetime import date
from pathlib import Path

from orchestrator.backtest import BacktestConfig, run_backtest
from orchestrator.config import Settings
from orchestrator.data.csv_provider import CsvMarketData
from orchestrator.data.offline import SAMPLE_DIR
from orchestrator.errors import DataError


def _readable(provider: CsvMarketData, symbol: str) -> bool:
    try:
        provider.series(symbol)
        return True
    except DataError:
        return False  # an empty file in the folder (AMCR)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="default: bundled sample")
    parser.add_argument("--tickers", type=int, default=15)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2014, 1, 2))
    parser.add_argument("--end", type=date.fromisoformat, default=date(2014, 12, 31))
    parser.add_argument("--rebalance", choices=("daily", "weekly"), default="daily")
    parser.add_argument("--adaptive", choices=("on", "off"), default="off")
    args = parser.parse_args()
    folder = args.data_dir or SAMPLE_DIR
    provider = CsvMarketData(folder)
    symbols = [s for s in provider.symbols() if s != "SPY" and _readable(provider, s)]
    symbols = symbols[: args.tickers]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = BacktestConfig(
            start=args.start,
            end=args.end,
            tickers=symbols,
            rebalance=args.rebalance,
            provider="csv" if args.data_dir else "offline",
            data_dir=args.data_dir,
            adaptive=args.adaptive == "on",
            out_dir=root / "out",
        )
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            var_dir=root / "var",
            database_url=f"sqlite:///{root / 'ledger.db'}",
        )
        run = asyncio.run(run_backtest(config, settings))
    steps: dict[str, list[float]] = {}
    for record in run.records:
        for step, seconds in record.timings.items():
            steps.setdefault(step, []).append(seconds)
    result = run.result
    print(
        json.dumps(
            {
                "tickers": len(symbols),
                "sessions": result.sessions,
                "seconds": result.seconds,
                "sessions_per_second": result.sessions_per_second,
                "cycle_step_mean_s": {k: round(statistics.mean(v), 4) for k, v in steps.items()},
                "total_return": result.strategy.total_return,
                "trades": result.trading.trades,
            }
        )
    )


if __name__ == "__main__":
    main()
