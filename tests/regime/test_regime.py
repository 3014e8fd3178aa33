"""Regime classification on constructed markets, through the real csv provider, point-in-time."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from orchestrator.analysis.regime import market_regime
from orchestrator.config import load_settings
from orchestrator.data.csv_provider import CsvMarketData
from orchestrator.domain import session_close
from orchestrator.errors import DataError
from orchestrator.tools import ToolContext, default_registry
from tests.regime.series import SESSIONS, universe, write_folder

N = len(SESSIONS)
MEMBERS = ["S0", "S1", "S2", "S3"]


def _close_of(index: int) -> datetime:
    return session_close(SESSIONS[index].date())


def _steady_rise(rng: np.random.Generator) -> np.ndarray:
    return 0.0008 + rng.normal(0, 0.004, N)


def _crash(rng: np.random.Generator) -> np.ndarray:
    calm = 0.0008 + rng.normal(0, 0.004, N - 25)
    # A month of heavy falls: about -40 % with daily swings of several per cent.
    falling = -0.02 + rng.normal(0, 0.03, 25)
    return np.concatenate([calm, falling])


def _chop(phase: float) -> np.ndarray:
    """No trend: a 4 % swing every ~month plus a 1 % zig-zag each day (~34 % volatility)."""
    t = np.arange(N)
    return 100 * (1 + 0.04 * np.sin(2 * np.pi * t / 23 + phase)) * (1 + 0.01 * (-1.0) ** t)


def _market(tmp_path: Path, make, name: str) -> CsvMarketData:
    return CsvMarketData(write_folder(tmp_path / name, universe(make)))


def test_steady_rise_is_risk_on(tmp_path: Path) -> None:
    regime = market_regime(_market(tmp_path, _steady_rise, "rise"), MEMBERS, as_of=_close_of(-1))
    assert regime.label == "risk_on"
    assert regime.benchmark == "SPY"
    assert regime.close > regime.sma50 > (regime.sma200 or 0)
    assert regime.breadth == 1.0 and regime.breadth_members == 4
    assert regime.volatility < 0.15 and regime.drawdown > -0.05
    assert "SPY score +" in regime.explanation


def test_crash_is_crisis(tmp_path: Path) -> None:
    market = _market(tmp_path, _crash, "crash")
    before = market_regime(market, MEMBERS, as_of=_close_of(N - 30))
    after = market_regime(market, MEMBERS, as_of=_close_of(-1))
    assert before.label == "risk_on"
    assert after.label == "crisis"
    assert after.drawdown <= -0.20 and after.volatility >= 0.30
    assert after.breadth == 0.0
    assert after.volatility_change is not None and after.volatility_change > 2
    assert "drawdown" in after.explanation


def test_high_volatility_chop_is_risk_off_not_crisis(tmp_path: Path) -> None:
    paths = {"SPY": _chop(0.0)} | {name: _chop(i * 1.3) for i, name in enumerate(MEMBERS)}
    market = CsvMarketData(write_folder(tmp_path / "chop", paths))
    regime = market_regime(market, MEMBERS, as_of=_close_of(-1))
    assert 0.25 <= regime.volatility < 0.60
    assert regime.drawdown > -0.20
    assert regime.label == "risk_off"
    assert "very high volatility" in regime.explanation or "high volatility" in regime.explanation


def test_no_look_ahead_truncated_data_and_a_later_crash_change_nothing(tmp_path: Path) -> None:
    day = 260
    paths = universe(_steady_rise)
    full = CsvMarketData(write_folder(tmp_path / "full", paths))
    cut = CsvMarketData(write_folder(tmp_path / "cut", {s: p[: day + 1] for s, p in paths.items()}))
    # The same history to `day`, then a crash the next session.
    crashed = {s: p.copy() for s, p in paths.items()}
    for series in crashed.values():
        series[day + 1 :] *= 0.5
    planted = CsvMarketData(write_folder(tmp_path / "planted", crashed))
    as_of = _close_of(day)
    seen = [market_regime(m, MEMBERS, as_of=as_of) for m in (full, cut, planted)]
    assert seen[0] == seen[1] == seen[2]
    assert seen[0].session == SESSIONS[day].date().isoformat()
    # The crash is visible from its own close on: the test could have failed.
    assert market_regime(planted, MEMBERS, as_of=_close_of(day + 1)).label == "crisis"


def test_equal_weight_fallback_and_too_little_history(tmp_path: Path) -> None:
    paths = universe(_steady_rise)
    paths.pop("SPY")
    market = CsvMarketData(write_folder(tmp_path / "nospy", paths))
    regime = market_regime(market, MEMBERS, as_of=_close_of(-1))
    assert regime.benchmark == "equal-weight index of 4 symbols"
    with pytest.raises(DataError, match="at least 51 sessions"):
        market_regime(market, MEMBERS, as_of=_close_of(20))


async def test_tool_returns_label_and_numbers(tmp_path: Path) -> None:
    market = _market(tmp_path, _crash, "tool")
    settings = load_settings(universe=",".join(MEMBERS))
    ctx = ToolContext(settings=settings, market_data=market, as_of=_close_of(-1))
    text = await default_registry().execute("get_market_regime", "{}", ctx)
    result = json.loads(text)
    assert result["label"] == "crisis"
    assert {"drawdown", "volatility", "breadth", "sma50", "explanation"} <= set(result)
    assert len(text) < 1500


def test_regime_or_none_for_a_short_history(tmp_path: Path) -> None:
    from orchestrator.analysis.regime import regime_or_none

    market = _market(tmp_path, _steady_rise, "short")
    assert regime_or_none(market, MEMBERS, as_of=_close_of(10)) is None
    found = regime_or_none(market, MEMBERS, as_of=_close_of(-1))
    assert found is not None and found.label == "risk_on"
