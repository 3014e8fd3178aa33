"""`fingpt backtest` options: clear errors before anything runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.errors import ConfigError, DataError


def _invoke(*args: str) -> BaseException | None:
    result = CliRunner().invoke(app, ["backtest", *args])
    return result.exception


@pytest.mark.parametrize(
    ("args", "error", "text"),
    [
        (["--start", "2015-02-01", "--end", "2015-01-01"], ConfigError, "must be after --start"),
        (["--start", "2015-13-01", "--end", "2015-01-01"], DataError, "--start '2015-13-01'"),
        (["--start", "2015-01-01", "--end", "2015-02-01", "--adaptive", "maybe"], ConfigError,
         "expected on or off"),
        (["--start", "2015-01-01", "--end", "2015-02-01", "--rebalance", "hourly"], ConfigError,
         "rebalance"),
        (["--start", "2015-01-01", "--end", "2015-02-01", "--universe", "nope.txt"], ConfigError,
         "no such file"),
        (["--start", "2015-01-01", "--end", "2015-02-01", "--data-dir", "."], ConfigError,
         "give --tickers"),
        (["--start", "2015-01-01", "--end", "2015-02-01", "--engine", "llm"], ConfigError,
         "OPENAI_API_KEY"),
    ],
)  # fmt: skip
def test_bad_options_say_what_is_wrong(
    args: list[str], error: type[Exception], text: str, tmp_path: Path
) -> None:
    raised = _invoke(*args)
    assert isinstance(raised, error)
    assert text in str(raised)
    assert not (tmp_path / "var" / "backtests").exists()


def test_a_short_backtest_writes_its_report_and_a_row(tmp_path: Path) -> None:
    from sqlmodel import select

    from orchestrator.config import get_settings
    from orchestrator.store.backtest import BacktestRow
    from orchestrator.store.db import get_engine, session_scope

    result = CliRunner().invoke(
        app,
        ["backtest", "--start", "2014-02-03", "--end", "2014-02-14", "--tickers", "AAPL,MSFT",
         "--rebalance", "weekly", "--adaptive", "off", "--out", "bt", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["sessions"] == 10 and metrics["rebalance_sessions"] == 2
    assert metrics["adaptive"] is False and metrics["tickers"] == ["AAPL", "MSFT"]
    assert metrics["benchmarks"][1]["name"] == "buy-and-hold equal weight"
    assert metrics["benchmarks"][1]["metrics"]["sessions"] == 10
    for name in ("report.md", "report.html", "equity.png", "trades.csv", "metrics.json"):
        assert (tmp_path / "bt" / name).is_file()
    with session_scope(get_engine(get_settings())) as session:
        rows = session.exec(select(BacktestRow)).all()
    assert [(r.id, r.status, r.sessions) for r in rows] == [(metrics["id"], "completed", 10)]
    assert rows[0].metrics["strategy"] == metrics["strategy"]
