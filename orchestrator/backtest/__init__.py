"""Point-in-time replay of `run_cycle` over history, with metrics, benchmarks and a report.

    run = await run_backtest(BacktestConfig(start=..., end=..., tickers=[...]), settings)
    write_report(run, out_dir)

Modules: `runner` (the replay), `sessions` (calendar and rebalance days), `metrics` (pure
performance maths), `benchmarks` (buy-and-hold SPY and equal weight), `summary` (result
assembly), `report` (files), `cutoff` (model training cut-offs).
"""

from __future__ import annotations

from orchestrator.backtest.report import write_report
from orchestrator.backtest.result import BacktestConfig, BacktestResult, BacktestRun
from orchestrator.backtest.runner import BacktestFailed, run_backtest

__all__ = [
    "BacktestConfig",
    "BacktestFailed",
    "BacktestResult",
    "BacktestRun",
    "run_backtest",
    "write_report",
]
