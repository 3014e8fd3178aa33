"""Backtests for the faces: run one (with progress), and list past runs.

Errors: bad options raise `ConfigError`/`DataError` (user-facing) before anything runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

from pydantic import ValidationError

from orchestrator.backtest import BacktestConfig, BacktestResult, run_backtest, write_report
from orchestrator.backtest.runner import Progress
from orchestrator.config import Settings, get_settings
from orchestrator.errors import ConfigError
from orchestrator.store import backtest as store
from orchestrator.store.db import get_engine, session_scope


def read_universe_file(path: Path) -> list[str]:
    """Tickers from a file: one per line or comma-separated; '#' starts a comment."""
    if not path.is_file():
        raise ConfigError(f"--universe {path}: no such file")
    tickers: list[str] = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0]
        tickers += [part.strip().upper() for part in line.split(",") if part.strip()]
    if not tickers:
        raise ConfigError(f"--universe {path}: no tickers in the file")
    return tickers


def backtest_config(
    *,
    start: date,
    end: date,
    tickers: Sequence[str],
    cash: float,
    rebalance: str,
    engine: str,
    data_dir: Path | None,
    adaptive: bool | None,
    out_dir: Path | None,
    training_cutoff: date | None = None,
) -> BacktestConfig:
    """Validate the options into a config; `ConfigError` says which option is wrong."""
    try:
        return BacktestConfig(
            start=start,
            end=end,
            tickers=list(tickers),
            cash=cash,
            rebalance=rebalance,  # type: ignore[arg-type]
            engine=engine,  # type: ignore[arg-type]
            provider="csv" if data_dir else "offline",
            data_dir=data_dir,
            adaptive=adaptive,
            out_dir=out_dir,
            training_cutoff=training_cutoff,
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'options'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"Invalid backtest options: {problems}") from None


async def run(
    config: BacktestConfig,
    *,
    settings: Settings | None = None,
    progress: Progress | None = None,
) -> tuple[BacktestResult, list[Path]]:
    """Run the backtest and write its report; returns the result and the files written."""
    run_ = await run_backtest(config, settings or get_settings(), progress=progress)
    files = write_report(run_, Path(run_.result.out_dir))
    return run_.result, files


def recent(limit: int = 10, *, settings: Settings | None = None) -> list[store.BacktestRow]:
    """The latest backtest runs recorded in the database, newest first."""
    with session_scope(get_engine(settings)) as session:
        return store.latest_backtests(session, limit)
