"""Speed of the screener and the quantitative forecaster as a backtest uses them.

    .venv/bin/python bench/analysis_speed.py [--data-dir ../shared/data/prices/sp500] [--size 500]

1. Screener: an S&P-sized universe (`--size` tickers: the folder's files, topped up with renamed
   copies when it has fewer) from cached bars. The first screen parses the files (the provider's
   cold cache); the timed screens are the warm ones a running service or a backtest sees.
2. Forecaster: `QuantForecaster.predict` for the bundled sample's 15 tickers on each of 100
   consecutive sessions (2015), from an empty model store: trainings happen on schedule.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from orchestrator.analysis.quant import QuantForecaster
from orchestrator.analysis.selection import select_stocks
from orchestrator.config import Settings
from orchestrator.data.csv_provider import CsvMarketData
from orchestrator.data.offline import OfflineMarketData
from orchestrator.domain import session_close

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "shared/data/prices/sp500"


def universe_folder(source: Path, size: int, into: Path) -> list[str]:
    files = sorted(p for p in source.iterdir() if p.name.endswith((".csv", ".csv.gz")))
    files = [p for p in files if p.name.split(".")[0] not in ("SPY", "constituents")]
    names = []
    for k in range(size):
        original = files[k % len(files)]
        name = original.name.split(".")[0] + ("" if k < len(files) else f"X{k // len(files)}")
        os.symlink(original, into / (name + original.name[len(original.name.split(".")[0]) :]))
        names.append(name)
    return names


def bench_screener(source: Path, size: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        universe = universe_folder(source, size, Path(folder))
        provider = CsvMarketData(Path(folder))
        settings = Settings(_env_file=None)
        as_of = datetime(2018, 6, 1, 21, 0, tzinfo=UTC)
        started = time.perf_counter()
        select_stocks(provider, universe, as_of=as_of, holdings=[], settings=settings)
        cold = time.perf_counter() - started
        warm = []
        for day in range(1, 11):
            moment = as_of.replace(day=day + 1)
            started = time.perf_counter()
            result = select_stocks(provider, universe, as_of=moment, holdings=[], settings=settings)
            warm.append(time.perf_counter() - started)
        print(
            f"screener: {len(universe)} tickers, {result.passed_filters} passed filters; "
            f"cold (parse files) {cold:.2f}s; warm median {statistics.median(warm):.3f}s, "
            f"max {max(warm):.3f}s over {len(warm)} screens"
        )


def bench_forecaster() -> None:
    provider = OfflineMarketData()
    settings = Settings(_env_file=None)
    sessions = provider.series("AAPL").frame.index
    days = [d.date() for d in sessions if d.year == 2015][50:150]
    with tempfile.TemporaryDirectory() as folder:
        forecaster = QuantForecaster(provider, list(settings.universe), model_dir=Path(folder))
        started = time.perf_counter()
        count = 0
        for day in days:
            for symbol in settings.universe:
                forecaster.predict(symbol, session_close(day))
                count += 1
        total = time.perf_counter() - started
        trainings = len(list(Path(folder).glob("*.joblib")))
    print(
        f"forecaster: {count} predictions ({len(settings.universe)} tickers x {len(days)} "
        f"sessions) in {total:.1f}s ({1000 * total / count:.1f} ms each), {trainings} trainings"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--size", type=int, default=500)
    args = parser.parse_args()
    bench_screener(args.data_dir, args.size)
    bench_forecaster()


if __name__ == "__main__":
    main()
