"""Evaluate self-tuning signal weights: the same backtest with `--adaptive off` and `on`.

    .venv/bin/python bench/backtest_adaptive.py --data-dir ../shared/data/prices/sp500 \
        --tickers 30 --start 2008-01-02 --end 2018-12-31 --rebalance weekly \
        --out var/backtests/adaptive-sp500

Tickers are the first N price files of the folder in alphabetical order (SPY excluded; with
--listed-before, only those with a bar before that date), so the command is reproducible (and,
like the folder, survivorship-biased: members as of 2021). Each run writes its full report
under OUT/off and OUT/on; this prints a Markdown table of both runs with both buy-and-hold
benchmarks, for docs/benchmarks/backtest.md.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import date
from pathlib import Path

from orchestrator.backtest import BacktestConfig, BacktestResult, run_backtest, write_report
from orchestrator.config import Settings
from orchestrator.data.csv_provider import CsvMarketData
from orchestrator.data.offline import SAMPLE_DIR
from orchestrator.errors import DataError


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:+.1f} %"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def table(results: dict[str, BacktestResult]) -> str:
    lines = [
        "| run | total return | annualised | Sharpe | max drawdown | trades | exposure |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode, result in results.items():
        s, t = result.strategy, result.trading
        lines.append(
            f"| strategy, adaptive {mode} | {_pct(s.total_return)} | "
            f"{_pct(s.annualised_return)} | {_num(s.sharpe)} | {_pct(s.max_drawdown)} | "
            f"{t.trades} | {t.exposure * 100:.0f} % |"
        )
    first = next(iter(results.values()))
    for bench in first.benchmarks:
        m = bench.metrics
        if m is None:
            lines.append(f"| {bench.name} | {bench.note} | | | | | |")
            continue
        lines.append(
            f"| {bench.name} | {_pct(m.total_return)} | {_pct(m.annualised_return)} | "
            f"{_num(m.sharpe)} | {_pct(m.max_drawdown)} | 1 | 100 % |"
        )
    return "\n".join(lines)


def _listed_before(provider: CsvMarketData, symbol: str, day: date) -> bool:
    try:
        return bool(provider.series(symbol).frame.index[0].date() < day)
    except DataError:
        return False  # an empty or unreadable file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="default: bundled sample")
    parser.add_argument("--tickers", type=int, default=15)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2014, 3, 3))
    parser.add_argument("--end", type=date.fromisoformat, default=date(2015, 12, 31))
    parser.add_argument("--rebalance", choices=("daily", "weekly"), default="weekly")
    parser.add_argument("--out", type=Path, default=Path("var/backtests/adaptive"))
    parser.add_argument("--modes", default="off,on")
    parser.add_argument(
        "--listed-before",
        type=date.fromisoformat,
        default=None,
        help="only tickers with a bar before this date (a full history for the whole period)",
    )
    args = parser.parse_args()
    folder = args.data_dir or SAMPLE_DIR
    provider = CsvMarketData(folder)
    symbols = [s for s in provider.symbols() if s != "SPY"]
    if args.listed_before:
        symbols = [s for s in symbols if _listed_before(provider, s, args.listed_before)]
    symbols = symbols[: args.tickers]
    settings = Settings(var_dir=args.out / "var")
    results: dict[str, BacktestResult] = {}
    for mode in args.modes.split(","):
        config = BacktestConfig(
            start=args.start,
            end=args.end,
            tickers=symbols,
            rebalance=args.rebalance,
            provider="csv" if args.data_dir else "offline",
            data_dir=args.data_dir,
            adaptive=mode == "on",
            out_dir=args.out / mode,
        )
        run = asyncio.run(run_backtest(config, settings))
        write_report(run, args.out / mode)
        results[mode] = run.result
        print(f"adaptive {mode}: {run.result.sessions} sessions in {run.result.seconds:.0f} s")
    print(f"tickers ({len(symbols)}): {' '.join(symbols)}")
    print(table(results))


if __name__ == "__main__":
    main()
