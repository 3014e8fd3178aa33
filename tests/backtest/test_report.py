"""The report files say what a user needs: metrics side by side, warnings, trades, a chart."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import pandas as pd

from orchestrator.backtest.metrics import Trade, curve_metrics, trade_metrics
from orchestrator.backtest.report import write_report
from orchestrator.backtest.result import (
    BacktestResult,
    BacktestRun,
    BenchmarkResult,
    LLMSummary,
)
from tests.regime.series import SESSIONS


def _run() -> BacktestRun:
    index = SESSIONS[:5]
    equity = pd.DataFrame(
        {
            "equity": [1000.0, 1010, 990, 1030, 1050],
            "cash": [1000.0, 500, 500, 500, 1050],
            "gross_exposure": [0.0, 510, 490, 530, 0],
        },
        index=index,
    )
    spy = pd.Series([1.0, 1.01, 1.02, 1.0, 1.01], index=index)
    trades = [
        Trade("2015-01-05", "AAA", "buy", 5, 100.0, 1.0, "Combined score +0.40"),
        Trade("2015-01-08", "AAA", "sell", 5, 110.0, 1.0, "Combined score -0.30, momentum"),
    ]
    result = BacktestResult(
        id="abc123",
        start=date(2015, 1, 2),
        end=date(2015, 1, 8),
        first_session=date(2015, 1, 2),
        last_session=date(2015, 1, 8),
        sessions=5,
        rebalance_sessions=5,
        rebalance="daily",
        engine="offline",
        adaptive=False,
        data="csv (/tmp/x)",
        tickers=["AAA", "BBB"],
        starting_cash=1000.0,
        slippage_bps=5,
        commission_per_order=1,
        strategy=curve_metrics(equity["equity"]),
        trading=trade_metrics(trades, equity["equity"], equity["gross_exposure"]),
        benchmarks=[
            BenchmarkResult(name="buy-and-hold SPY", metrics=curve_metrics(spy)),
            BenchmarkResult(name="buy-and-hold equal weight", note="unavailable: no data"),
        ],
        llm=LLMSummary(engine="llm", calls=12, replay_hits=30, prompt_tokens=900),
        cycles={"completed": 5},
        orders={"filled": 2},
        seconds=2.0,
        sessions_per_second=2.5,
        warnings=["gpt-4o-mini was trained on data up to about 2023-10-01, which overlaps"],
    )
    return BacktestRun(result, equity, {"buy-and-hold SPY": spy}, trades)


def test_report_files(tmp_path: Path) -> None:
    files = write_report(_run(), tmp_path)
    assert {f.name for f in files} >= {"report.md", "report.html", "equity.png", "trades.csv"}
    assert all(f.stat().st_size > 0 for f in files)
    markdown = (tmp_path / "report.md").read_text()
    assert "| Metric | Strategy | buy-and-hold SPY | buy-and-hold equal weight |" in markdown
    assert "| Total return | +5.00 % | +1.00 % | n/a |" in markdown
    assert "> **Warning:** gpt-4o-mini was trained" in markdown
    assert "The strategy beat buy-and-hold SPY by 4.0 points" in markdown
    assert "Served from the replay cache | 30" in markdown
    html = (tmp_path / "report.html").read_text()
    assert "<th>buy-and-hold SPY</th>" in html and "&#9888; gpt-4o-mini" in html
    assert (tmp_path / "equity.png").read_bytes()[:4] == b"\x89PNG"
    with (tmp_path / "trades.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["date", "symbol", "side", "qty", "price", "fees", "reason"]
    assert rows[1]["reason"] == "Combined score -0.30, momentum" and rows[1]["qty"] == "5"
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["strategy"]["total_return"] == 0.05
    assert metrics["trading"]["win_rate"] == 1.0
