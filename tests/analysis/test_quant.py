"""The quantitative forecaster: walk-forward training, point in time, saving and reloading, and
the retraining schedule, on a synthetic price folder read by the real csv provider."""

from __future__ import annotations

from datetime import UTC, timedelta

import numpy as np
import pandas as pd
import pytest

from orchestrator.analysis import quant
from orchestrator.analysis.features import build_panel, compute_features, forward_returns
from orchestrator.analysis.quant import QuantForecaster, fit_model
from orchestrator.data.csv_provider import CsvMarketData
from orchestrator.domain import session_close
from orchestrator.store import analysis as store
from orchestrator.store.db import session_scope
from tests.analysis.conftest import SESSIONS, random_walks, write_prices

AT = 420  # forecast at this session's close
AS_OF = session_close(SESSIONS[AT].date()).astimezone(UTC)


@pytest.fixture(scope="module")
def walks() -> dict[str, np.ndarray]:
    return random_walks(12)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, walks: dict[str, np.ndarray]):
    return write_prices(tmp_path_factory.mktemp("quant") / "prices", walks)


def test_fit_model_learns_only_outcomes_known_at_training(walks) -> None:
    bars = {
        s: pd.DataFrame({"close": c, "volume": np.full(len(c), 1e6)}, index=SESSIONS[: len(c)])
        for s, c in walks.items()
    }
    panel = build_panel(bars, None)
    features, forward = compute_features(panel), forward_returns(panel.close)
    model = fit_model(features, forward, panel.close.index, SESSIONS[AT].date())
    assert model is not None
    # The last sample is 5 sessions back: its 5-day outcome closed exactly at the training session.
    assert model.train_end == SESSIONS[AT - 5].date()
    # Changing every outcome that was not yet known leaves the model as it was.
    future = forward.copy()
    later = future.index.get_level_values("date") > SESSIONS[AT - 5]
    future[later] = 0.5
    again = fit_model(features, future, panel.close.index, SESSIONS[AT].date())
    rows = features.xs(SESSIONS[AT], level="date")
    assert np.array_equal(model.predict(rows)[0], again.predict(rows)[0])


def test_a_planted_jump_after_as_of_changes_nothing(folder, walks, tmp_path) -> None:
    planted = {s: c.copy() for s, c in walks.items()}
    planted["T03"][AT + 1 :] *= 2.0  # doubles the session after as_of
    other = write_prices(tmp_path / "planted", planted)
    clean = QuantForecaster(CsvMarketData(folder), list(walks)).predict("T03", AS_OF)
    dirty = QuantForecaster(CsvMarketData(other), list(walks)).predict("T03", AS_OF)
    assert clean is not None and clean == dirty
    assert 0 <= clean.prob_up <= 1 and clean.bin[0] in "UD"


def test_saved_model_is_reloaded_and_retrained_on_schedule(
    folder, walks, sqlite_engine, tmp_path, monkeypatch
) -> None:
    model_dir = tmp_path / "models"
    first = QuantForecaster(
        CsvMarketData(folder), list(walks), engine=sqlite_engine, model_dir=model_dir
    )
    forecast = first.predict("T01", AS_OF)
    assert forecast is not None
    assert len(list(model_dir.glob("*.joblib"))) == 1
    with session_scope(sqlite_engine) as session:
        saved = store.latest_forecast_model(session, first.name, AS_OF)
    assert saved is not None and saved.train_end == SESSIONS[AT - 5].date()

    # A new process: the registered model is loaded, nothing is trained.
    def no_training(*args, **kwargs):
        raise AssertionError("trained again although a saved model was due for reuse")

    monkeypatch.setattr(quant, "fit_model", no_training)
    second = QuantForecaster(
        CsvMarketData(folder), list(walks), engine=sqlite_engine, model_dir=model_dir
    )
    assert second.predict("T01", AS_OF) == forecast
    # Ten sessions later the same model still serves...
    soon = session_close(SESSIONS[AT + 10].date())
    assert second.predict("T01", soon).model == forecast.model
    # ...but past RETRAIN_SESSIONS it is due, and a new one is trained.
    monkeypatch.undo()
    late = session_close(SESSIONS[AT + quant.RETRAIN_SESSIONS + 2].date())
    newer = second.predict("T01", late)
    assert newer is not None and newer.model != forecast.model
    assert len(list(model_dir.glob("*.joblib"))) == 2
    # The registry never hands a model trained later to an earlier as_of.
    with session_scope(sqlite_engine) as session:
        assert store.latest_forecast_model(session, first.name, AS_OF).train_end == saved.train_end


def test_too_little_history_abstains(folder, walks) -> None:
    early = session_close(SESSIONS[40].date())
    assert QuantForecaster(CsvMarketData(folder), list(walks)).predict("T00", early) is None


def test_a_symbol_outside_the_universe_is_forecast(folder, walks) -> None:
    forecaster = QuantForecaster(CsvMarketData(folder), [s for s in walks if s != "T11"])
    result = forecaster.predict("t11", AS_OF + timedelta(hours=1))
    assert result is not None and result.symbol == "T11"
