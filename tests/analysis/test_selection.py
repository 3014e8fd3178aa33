"""The screener on a small universe with known factor values, its filters, holdings, and the
point-in-time rule."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from orchestrator.analysis.selection import rank_scores, select_stocks
from orchestrator.config import Settings
from orchestrator.data.csv_provider import CsvMarketData
from orchestrator.domain import session_close
from tests.analysis.conftest import SESSIONS

N = 300
AS_OF = session_close(SESSIONS[N - 1].date()).astimezone(UTC)


def _universe() -> dict[str, np.ndarray]:
    days = np.arange(N)
    return {
        "UP": 20.0 * 1.002**days,  # steady climb: strong momentum, at its high, no volatility
        "DOWN": 40.0 * 0.998**days,  # steady fall
        "CHOPPY": 30.0 * (1 + 0.03 * (-1.0) ** days),  # no trend, very volatile
        "PENNY": np.full(N, 3.0),  # below the minimum price
        "THIN": 20.0 * 1.001**days,  # too little dollar volume (set below)
    }


def _volumes() -> dict[str, np.ndarray]:
    return {"THIN": np.full(N, 1_000.0)}


def _settings(**overrides: object) -> Settings:
    return Settings(min_price=5.0, min_avg_dollar_volume=1_000_000.0, **overrides)


def test_factor_values_and_rank_on_known_series(price_folder) -> None:
    provider = CsvMarketData(price_folder(_universe(), volumes=_volumes()))
    selection = select_stocks(
        provider, list(_universe()), as_of=AS_OF, holdings=[], settings=_settings()
    )
    by_symbol = {c.symbol: c for c in selection.candidates}
    up = by_symbol["UP"].factors
    assert up["mom_20d"] == pytest.approx(20 * math.log(1.002), rel=1e-4)
    assert up["mom_120d"] == pytest.approx(120 * math.log(1.002), rel=1e-4)
    assert up["dist_52w_high"] == pytest.approx(0.0, abs=1e-9)
    assert up["vol_20d"] == pytest.approx(0.0, abs=1e-6)
    assert by_symbol["DOWN"].factors["dist_52w_high"] < -0.3
    assert up["avg_dollar_volume"] == pytest.approx(float(np.mean(_universe()["UP"][-20:])) * 2e6)
    # Rank: the clean uptrend first, the downtrend last.
    assert [c.symbol for c in selection.candidates] == ["UP", "CHOPPY", "DOWN"]
    assert selection.passed_filters == 3
    assert "below 5" in selection.excluded["PENNY"]
    assert "dollar volume" in selection.excluded["THIN"]


def test_max_candidates_and_holdings_always_reviewed(price_folder) -> None:
    provider = CsvMarketData(price_folder(_universe(), volumes=_volumes()))
    selection = select_stocks(
        provider,
        list(_universe()),
        as_of=AS_OF,
        holdings=["penny", "DOWN"],
        settings=_settings(max_candidates=1),
    )
    assert [c.symbol for c in selection.candidates] == ["UP", "PENNY", "DOWN"]
    penny = selection.candidates[1]
    assert penny.held and not penny.passed_filters
    assert penny.factors["price"] == pytest.approx(3.0)


def test_unknown_ticker_is_listed_not_fatal(price_folder) -> None:
    provider = CsvMarketData(price_folder(_universe(), volumes=_volumes()))
    selection = select_stocks(
        provider, ["UP", "NOPE", "DOWN"], as_of=AS_OF, holdings=[], settings=_settings()
    )
    assert [c.symbol for c in selection.candidates] == ["UP", "DOWN"]
    assert "NOPE" in selection.excluded["NOPE"]


def test_a_price_jump_after_as_of_changes_nothing(price_folder, tmp_path) -> None:
    universe = _universe()
    before = select_stocks(
        CsvMarketData(price_folder(universe, volumes=_volumes())),
        list(universe),
        as_of=AS_OF,
        holdings=[],
        settings=_settings(),
    )
    # The same history plus 20 more sessions in which DOWN triples.
    longer = {s: np.concatenate([c, np.full(20, c[-1])]) for s, c in universe.items()}
    longer["DOWN"][N:] *= 3
    from tests.analysis.conftest import write_prices

    folder = write_prices(tmp_path / "later", longer, volumes={"THIN": np.full(N + 20, 1_000.0)})
    after = select_stocks(
        CsvMarketData(folder), list(universe), as_of=AS_OF, holdings=[], settings=_settings()
    )
    assert after.candidates == before.candidates
    # ...while at a later as_of the jump is seen.
    later = select_stocks(
        CsvMarketData(folder),
        list(universe),
        as_of=AS_OF + timedelta(days=30),
        holdings=[],
        settings=_settings(),
    )
    assert later.candidates[0].symbol == "DOWN"


def test_news_count_and_sentiment_change_use_only_known_news(price_folder) -> None:
    folder = price_folder(_universe(), volumes=_volumes())
    rows = [
        ("n1", "UP", AS_OF - timedelta(hours=5), "UP beats estimates and raises guidance"),
        ("n2", "UP", AS_OF - timedelta(days=5), "UP misses estimates, shares plunge"),
        ("n3", "UP", AS_OF + timedelta(hours=1), "UP wins huge contract"),  # after as_of
        ("n4", "DOWN", AS_OF - timedelta(days=20), "DOWN old news"),  # outside the window
    ]
    pd.DataFrame(
        [
            {"id": i, "symbols": s, "published_at": t.isoformat(), "headline": h}
            for i, s, t, h in rows
        ]
    ).to_csv(folder / "news.csv", index=False)
    selection = select_stocks(
        CsvMarketData(folder), list(_universe()), as_of=AS_OF, holdings=[], settings=_settings()
    )
    by_symbol = {c.symbol: c.factors for c in selection.candidates}
    assert by_symbol["UP"]["news_count"] == 2
    assert by_symbol["UP"]["sentiment_change"] > 1.0  # from a bad item to a good one
    assert by_symbol["DOWN"]["news_count"] == 0


def test_rank_scores_weights_and_direction() -> None:
    factors = pd.DataFrame(
        {"mom_20d": [0.1, 0.0, -0.1], "vol_20d": [0.1, 0.2, 0.3]}, index=["A", "B", "C"]
    )
    scores = rank_scores(factors, {"mom_20d": 1.0, "vol_20d": -1.0})
    assert list(scores.sort_values(ascending=False).index) == ["A", "B", "C"]
    assert scores["A"] == pytest.approx(-scores["C"])
    # Only low volatility counts: the calmest first.
    calm = rank_scores(factors, {"vol_20d": -1.0})
    assert calm.idxmax() == "A"


def test_start_of_day_sees_only_the_previous_close(price_folder) -> None:
    provider = CsvMarketData(price_folder(_universe(), volumes=_volumes()))
    morning = datetime.combine(SESSIONS[N - 1].date(), datetime.min.time(), tzinfo=UTC)
    selection = select_stocks(
        provider, ["UP"], as_of=morning + timedelta(hours=14), holdings=[], settings=_settings()
    )
    assert selection.candidates[0].factors["price"] == pytest.approx(_universe()["UP"][N - 2])
