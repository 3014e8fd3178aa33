"""Regime-aware limits: REGIME_EXPOSURE_SCALE shrinks position and gross-exposure caps."""

from __future__ import annotations

from dataclasses import replace

import pytest

from orchestrator.config import load_settings, parse_regime_scale
from orchestrator.domain import VerdictStatus
from orchestrator.errors import ConfigError
from orchestrator.trading.risk import RiskLimits, assess
from tests.trading.test_risk import LIMITS, book, buy, inputs, pos, sell

SCALED = replace(
    LIMITS,
    max_order_notional=1_000_000.0,
    regime_scale=(("risk_on", 1.0), ("neutral", 1.0), ("risk_off", 0.6), ("crisis", 0.0)),
)

# (regime, proposal, portfolio, status, quantity, last clamp, reason fragment)
CASES = [
    ("risk_on", buy(quantity=100), book(), "approved", 100, None, ""),
    ("neutral", buy(quantity=100), book(), "approved", 100, None, ""),
    (None, buy(quantity=100), book(), "approved", 100, None, ""),  # unknown regime: plain limits
    ("unheard_of", buy(quantity=100), book(), "approved", 100, None, ""),
    # 10% position cap -> 6% in risk_off: 60 shares of a 100 stock on 100,000 equity
    ("risk_off", buy(quantity=100), book(), "resized", 60, "regime_position_pct", "risk_off"),
    # gross cap 50% -> 30%: 25,000 already invested leaves 5,000 = 50 shares
    (
        "risk_off",
        buy("MSFT", quantity=100),
        book(75_000.0, pos("A", 100), pos("B", 150)),
        "resized",
        50,
        "regime_gross_exposure_pct",
        "MAX_GROSS_EXPOSURE_PCT 50% by 0.6 to 30%",
    ),
    ("crisis", buy(quantity=10), book(), "blocked", 0, "regime_position_pct", "crisis"),
    # exits are never limited by the regime
    ("crisis", sell(quantity=10), book(99_000.0, pos("AAPL", 10)), "approved", 10, None, ""),
]


@pytest.mark.parametrize(
    ("regime", "proposal", "portfolio", "status", "quantity", "clamp", "fragment"), CASES
)
def test_regime_scaling(regime, proposal, portfolio, status, quantity, clamp, fragment) -> None:
    verdict = assess(proposal, inputs(portfolio, regime=regime), SCALED)
    assert verdict.status == VerdictStatus(status)
    assert verdict.quantity == quantity
    if clamp is None:
        assert not any(c.limit.startswith("regime") for c in verdict.clamps)
    else:
        assert verdict.clamps[-1].limit == clamp
        assert fragment in " ".join(verdict.reasons)


def test_the_plain_limit_binds_first_and_the_regime_cut_is_recorded_apart() -> None:
    verdict = assess(buy(quantity=500), inputs(regime="risk_off"), SCALED)
    assert [(c.limit, c.before, c.after) for c in verdict.clamps] == [
        ("max_position_pct", 500, 100),
        ("regime_position_pct", 100, 60),
    ]


def test_settings_parse_and_refuse_factors_that_would_raise_a_limit() -> None:
    assert parse_regime_scale(" risk_off:0.6 , CRISIS:0 ") == (("risk_off", 0.6), ("crisis", 0.0))
    limits = RiskLimits.from_settings(load_settings(regime_exposure_scale="risk_off:0.5"))
    assert limits.scale_for("risk_off") == 0.5 and limits.scale_for("neutral") == 1.0
    off = RiskLimits.from_settings(load_settings(regime_scaling=False))
    assert off.scale_for("crisis") == 1.0
    for bad in ("crisis:1.5", "crisis", "crisis:-0.1", ":0.5", "crisis:lots"):
        with pytest.raises(ConfigError, match="REGIME_EXPOSURE_SCALE"):
            load_settings(regime_exposure_scale=bad)
