"""Price and volume features: known values and the point-in-time property."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from orchestrator.analysis.features import (
    EQUAL_WEIGHT,
    FEATURE_COLUMNS,
    build_panel,
    compute_features,
    forward_returns,
)
from tests.analysis.conftest import SESSIONS, random_walks


def _bars(closes: dict[str, np.ndarray]) -> dict[str, pd.DataFrame]:
    return {
        s: pd.DataFrame(
            {"close": c, "volume": 1e6 + 1e3 * np.arange(len(c))}, index=SESSIONS[: len(c)]
        )
        for s, c in closes.items()
    }


def test_known_values_on_a_steady_climb() -> None:
    n = 300
    closes = {"UP": 10 * 1.01 ** np.arange(n), "FLAT": np.full(n, 10.0)}
    panel = build_panel(_bars(closes), None)
    assert panel.benchmark_source == EQUAL_WEIGHT
    last = compute_features(panel).xs(SESSIONS[n - 1], level="date")
    assert last.loc["UP", "ret_5d"] == pytest.approx(5 * math.log(1.01))
    assert last.loc["UP", "rsi_14"] == pytest.approx(100.0)
    assert last.loc["UP", "dist_52w_high"] == pytest.approx(0.0)
    assert last.loc["FLAT", "ret_20d"] == pytest.approx(0.0)
    assert last.loc["UP", "rank_ret_20d"] > last.loc["FLAT", "rank_ret_20d"]
    assert list(last.columns) == list(FEATURE_COLUMNS)


def test_features_at_t_do_not_depend_on_later_bars() -> None:
    closes = random_walks(5, 400)
    full = compute_features(build_panel(_bars(closes), None))
    cut = compute_features(build_panel(_bars({s: c[:300] for s, c in closes.items()}), None))
    day = SESSIONS[299]
    pd.testing.assert_frame_equal(full.xs(day, level="date"), cut.xs(day, level="date"))


def test_forward_returns_are_the_next_five_sessions() -> None:
    closes = {"A": np.arange(1.0, 21.0)}
    forward = forward_returns(build_panel(_bars(closes), None).close)
    assert forward[(SESSIONS[0], "A")] == pytest.approx(6.0 / 1.0 - 1)
    assert math.isnan(forward[(SESSIONS[19], "A")])  # not known yet
