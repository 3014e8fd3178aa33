"""`fingpt backtest` options: clear errors before anything runs."""

from __future__ import annotations

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
