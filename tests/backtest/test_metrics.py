"""Metrics, benchmarks, sessions and cut-off warnings on hand-checked numbers."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from orchestrator.backtest.benchmarks import buy_and_hold_equal_weight, buy_and_hold_symbol
from orchestrator.backtest.cutoff import cutoff_warnings, training_cutoff
from orchestrator.backtest.metrics import Trade, curve_metrics, trade_metrics
from orchestrator.backtest.sessions import rebalance_days, trading_sessions
from orchestrator.data.csv_provider import CsvMarketData
from orchestrator.data.offline import OfflineMarketData
from orchestrator.domain import session_close
from orchestrator.errors import DataError
from tests.regime.series import SESSIONS, write_folder


def _curve(values: list[float]) -> pd.Series:
    return pd.Series(values, index=SESSIONS[: len(values)], dtype=float)


def test_curve_metrics_match_hand_computation() -> None:
    metrics = curve_metrics(_curve([100, 110, 99, 121]))
    returns = np.array([0.10, -0.10, 121 / 99 - 1])
    assert metrics.total_return == pytest.approx(0.21)
    assert metrics.max_drawdown == pytest.approx(-0.10)
    assert metrics.sharpe == pytest.approx(
        returns.mean() / returns.std(ddof=1) * math.sqrt(252), rel=1e-3
    )
    downside = math.sqrt((0.10**2) / 3)
    assert metrics.sortino == pytest.approx(returns.mean() / downside * math.sqrt(252), rel=1e-3)
    assert metrics.annualised_return == pytest.approx(1.21 ** (252 / 3) - 1, rel=1e-3)
    assert metrics.calmar == pytest.approx(metrics.annualised_return / 0.10, rel=1e-3)


def test_flat_curve_has_no_sharpe_and_short_curve_is_refused() -> None:
    flat = curve_metrics(_curve([100, 100, 100]))
    assert flat.sharpe is None and flat.max_drawdown == 0 and flat.calmar is None
    with pytest.raises(ValueError, match="two sessions"):
        curve_metrics(_curve([100]))


def test_trade_metrics_win_rate_pnl_turnover_exposure() -> None:
    trades = [
        Trade("2015-01-02", "AAA", "buy", 10, 100.0, 1.0),
        Trade("2015-01-05", "AAA", "sell", 5, 120.0, 1.0),  # +98.5 after fees
        Trade("2015-01-06", "AAA", "sell", 5, 90.0, 1.0),  # -51.5
        Trade("2015-01-07", "BBB", "sell", 3, 50.0, 1.0),  # no cost basis: not a closed trade
    ]
    equity = _curve([1000, 1000, 1000, 1000, 1000])
    gross = _curve([0, 500, 500, 0, 0])
    metrics = trade_metrics(trades, equity, gross)
    assert metrics.trades == 4 and metrics.buys == 1 and metrics.sells == 3
    assert metrics.closed_trades == 2 and metrics.win_rate == 0.5
    assert metrics.realised_pnl == pytest.approx(47.0)
    assert metrics.fees == 4.0
    assert metrics.exposure == pytest.approx(0.2)
    traded = 1000 + 600 + 450 + 150
    assert metrics.turnover == pytest.approx(traded / 1000 * 252 / 4)


def test_equal_weight_is_buy_and_hold_not_rebalanced(tmp_path: Path) -> None:
    closes = {"AAA": np.array([10.0, 20, 10, 20]), "BBB": np.array([5.0, 5, 5, 5])}
    market = CsvMarketData(write_folder(tmp_path, closes))
    sessions = pd.DatetimeIndex(SESSIONS[:4])
    as_of = session_close(SESSIONS[3].date())
    curve = buy_and_hold_equal_weight(market, ["AAA", "BBB", "NOPE"], sessions, as_of=as_of)
    assert curve.levels is not None
    # Held: (2 + 1) / 2. Rebalanced daily it would be 1.5 * 0.75 * 1.5 = 1.6875.
    assert curve.levels.iloc[-1] == pytest.approx(1.5)
    assert "left out: NOPE" in curve.note
    missing = buy_and_hold_symbol(OfflineMarketData(), sessions, as_of=as_of)
    assert missing.levels is None and "not in the bundled sample" in missing.note


def test_sessions_come_from_the_data_and_weekly_uses_week_ends(tmp_path: Path) -> None:
    market = CsvMarketData(write_folder(tmp_path, {"AAA": np.linspace(10, 12, 30)}))
    sessions = trading_sessions(market, ["AAA"], date(2015, 1, 5), date(2015, 1, 31))
    assert sessions[0].date() == date(2015, 1, 5) and sessions[-1].date() == date(2015, 1, 30)
    weekly = sorted(rebalance_days(sessions, "weekly"))
    assert weekly == [date(2015, 1, 9), date(2015, 1, 16), date(2015, 1, 23), date(2015, 1, 30)]
    assert len(rebalance_days(sessions, "daily")) == len(sessions) == 20
    with pytest.raises(DataError, match="no bars for any of AAA"):
        trading_sessions(market, ["AAA"], date(2019, 1, 1), date(2019, 2, 1))


def test_training_cutoff_warnings() -> None:
    assert training_cutoff("gpt-4o-mini-2024-07-18") == date(2023, 10, 1)
    assert training_cutoff("openai/gpt-4.1-mini") == date(2024, 6, 1)
    early = cutoff_warnings({"gpt-4o-mini"}, date(2014, 1, 1), date(2015, 12, 31))
    assert len(early) == 1 and "overlaps" in early[0]
    assert cutoff_warnings({"gpt-4o-mini"}, date(2024, 1, 1), date(2024, 6, 1)) == []
    unknown = cutoff_warnings({"my-local-model"}, date(2024, 1, 1), date(2024, 6, 1))
    assert "unknown" in unknown[0]
