"""The quantitative 5-day forecaster: gradient-boosted trees on price and volume features.

Model: two scikit-learn `HistGradientBoosting` models pooled over the tickers of the universe,
one classifier for P(5-day return > 0) and one regressor for the 5-day return (targets clipped to
+-`TARGET_CLIP` so a takeover jump does not dominate), on `features.FEATURE_COLUMNS` (multi-horizon
returns, volatility, RSI, MACD, volume z-score, return relative to SPY or the equal-weight
universe, distance from the 52-week high, market context and cross-sectional ranks). The
classifier's trees learn from the older 80 % of the training samples and its probability is
recalibrated (Platt scaling) on the newest 20 %, which also carries the recent up-rate.

Walk-forward (`fit_model`): a model trained at session T learns only from samples dated
t <= T - `HORIZON_DAYS` sessions, whose outcome was known at T's close, from the last
`TRAIN_SESSIONS` sessions, taking every `sample_stride`-th session (fewer overlapping labels for
big universes, every session for small ones).

Schedule (`QuantForecaster`): a model is reused until it is more than `RETRAIN_SESSIONS` sessions
older than the session being forecast, then retrained. Trained models are kept in memory, saved
with joblib under `VAR_DIR/models/forecast/` and registered in `forecast_model`, so a new process
(or a repeated backtest) loads them instead of training again; a registry entry is only used when
it was trained at or before `as_of`.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine
from threadpoolctl import threadpool_limits

from orchestrator.analysis.bins import return_bin
from orchestrator.analysis.features import (
    FEATURE_COLUMNS,
    HORIZON_DAYS,
    build_panel,
    compute_features,
    forward_returns,
)
from orchestrator.data.base import MarketData
from orchestrator.data.frames import last_known_session
from orchestrator.domain import Forecast, session_close
from orchestrator.errors import DataError, ProviderError
from orchestrator.store import analysis as store
from orchestrator.store.db import session_scope

log = logging.getLogger(__name__)

MODEL_FAMILY = "quant-hgb-v3"  # bump when features or model change: old files are not reused
TRAIN_SESSIONS = 1260  # five years: several regimes, still recent
RETRAIN_SESSIONS = 21  # monthly, as FinGPT-style weekly forecasts need
MIN_TRAIN_SAMPLES = 500  # below this the trees learn noise; the forecaster abstains
CALIBRATION_SHARE = 0.2  # newest fifth of the samples: about a year of a five-year window
TARGET_CLIP = 0.20  # 5-day returns beyond +-20 % are events, not patterns
FEATURE_SESSIONS = 300  # the longest feature (52-week high) needs 252 sessions, plus warm-up
CALENDAR_PER_SESSION = 1.5  # calendar days per session, with margin for holidays
BENCHMARK = "SPY"


@dataclass
class TrainedModel:
    classifier: Any
    regressor: Any
    trained_session: date  # the session at whose close the model was trained
    train_start: date
    train_end: date  # the last sample date (its outcome was known at trained_session)
    n_samples: int
    up_rate: float  # share of up outcomes in the training sample (the always-up baseline's P)
    calibrator: Any = None  # logistic map of the trees' logit, fitted on the newest samples

    def predict(self, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """P(up) and expected 5-day return for feature rows (NaN allowed)."""
        x = rows[list(FEATURE_COLUMNS)].to_numpy(float)
        with threadpool_limits(1):
            prob = self.classifier.predict_proba(x)[:, 1]
            expected = self.regressor.predict(x)
        if self.calibrator is not None and len(prob):
            prob = self.calibrator.predict_proba(_logit(prob))[:, 1]
        return prob, expected


def _logit(prob: np.ndarray) -> np.ndarray:
    clipped = np.clip(prob, 1e-4, 1 - 1e-4)
    return np.log(clipped / (1 - clipped)).reshape(-1, 1)


def sample_stride(n_tickers: int) -> int:
    """Every session for small universes (enough samples), up to weekly for large ones."""
    return max(1, min(HORIZON_DAYS, n_tickers // 20))


def fit_model(
    features: pd.DataFrame, forward: pd.Series, sessions: pd.Index, trained_session: date
) -> TrainedModel | None:
    """Train on samples whose outcome was known at `trained_session` (see the module doc).

    `features` and `forward` are indexed by (date, symbol); `sessions` is the ascending session
    calendar. Returns None when fewer than `MIN_TRAIN_SAMPLES` samples qualify.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.linear_model import LogisticRegression

    position = int(sessions.searchsorted(pd.Timestamp(trained_session), side="right")) - 1
    last_label = position - HORIZON_DAYS
    if last_label < 0:
        return None
    n_tickers = features.index.get_level_values("symbol").nunique()
    stride = sample_stride(n_tickers)
    chosen = sessions[max(0, last_label - TRAIN_SESSIONS) : last_label + 1][::-1][::stride]
    dates = features.index.get_level_values("date")
    mask = dates.isin(chosen)
    target = forward.reindex(features.index[mask])
    known = target.notna().to_numpy()
    x = features[mask][known][list(FEATURE_COLUMNS)].to_numpy(float, copy=True)
    y = target[known].to_numpy(float)
    if len(y) < MIN_TRAIN_SAMPLES:
        return None
    # A feature with no value at all (short history, constant volume) cannot be binned; as a
    # constant it is simply never split on.
    x[:, np.isnan(x).all(axis=0)] = 0.0
    # Shallow, heavily regularised trees: weekly returns are mostly noise, and deeper models
    # (tried: 8-15 leaves, 100-150 rounds) called "down" too often and lost accuracy out of
    # sample (bench numbers in docs/benchmarks/analysis.md).
    used = target[known].index.get_level_values("date")
    order = np.argsort(used.to_numpy(), kind="stable")
    # The trees learn from the older part; the newest CALIBRATION_SHARE recalibrates their
    # probability (Platt scaling), which also brings in the most recent up-rate.
    cut = int(len(order) * (1 - CALIBRATION_SHARE))
    fit_rows, calibration_rows = order[:cut], order[cut:]
    params = dict(
        max_iter=40,
        learning_rate=0.03,
        max_depth=2,
        min_samples_leaf=max(50, len(fit_rows) // 8),
        l2_regularization=10.0,
        random_state=0,
    )
    # One thread: OpenMP threads that wait on each other on a shared, busy machine made a
    # 5k-sample fit 50x slower (35 s instead of 0.6 s); one core is plenty for these sizes.
    with threadpool_limits(1):
        up = (y > 0).astype(int)
        classifier = HistGradientBoostingClassifier(**params).fit(x[fit_rows], up[fit_rows])
        raw = classifier.predict_proba(x[calibration_rows])[:, 1]
        calibrator = LogisticRegression(C=1.0).fit(_logit(raw), up[calibration_rows])
        regressor = HistGradientBoostingRegressor(**params).fit(
            x, np.clip(y, -TARGET_CLIP, TARGET_CLIP)
        )
    return TrainedModel(
        classifier=classifier,
        regressor=regressor,
        trained_session=trained_session,
        train_start=used.min().date(),
        train_end=used.max().date(),
        n_samples=len(y),
        up_rate=float((y > 0).mean()),
        calibrator=calibrator,
    )


def load_panel_bars(
    market_data: MarketData, symbols: list[str], start: date, end: date, as_of: datetime
) -> dict[str, pd.DataFrame]:
    """Bars of the symbols that have some in the range; others are skipped (they may list later
    or have delisted). `ProviderError` propagates."""
    try:
        return market_data.get_bars(symbols, start, end, as_of=as_of)
    except ProviderError:
        raise
    except DataError:
        pass
    bars: dict[str, pd.DataFrame] = {}
    for symbol in symbols:
        try:
            bars.update(market_data.get_bars([symbol], start, end, as_of=as_of))
        except ProviderError:
            raise
        except DataError:
            continue
    return bars


def _benchmark_bars(
    market_data: MarketData, start: date, end: date, as_of: datetime
) -> pd.DataFrame | None:
    try:
        return market_data.get_bars([BENCHMARK], start, end, as_of=as_of)[BENCHMARK]
    except ProviderError:
        raise
    except DataError:
        return None  # no SPY here: features use the equal-weight universe instead


def universe_key(universe: list[str]) -> str:
    digest = hashlib.sha256(",".join(sorted(set(universe))).encode()).hexdigest()
    return f"{MODEL_FAMILY}-{digest[:10]}"


_instances: dict[tuple[Any, ...], QuantForecaster] = {}
_instances_lock = threading.Lock()


class QuantForecaster:
    """Walk-forward trained, saved, scheduled 5-day forecaster (see the module docstring).

    `predict` is thread-safe and cheap once the day's features and the current model are cached:
    a backtest forecasting 15 tickers a day trains about once a month and builds features once a
    day. Failure contract: `predict` returns None (abstains, with a log line) when the symbol has
    no features at `as_of` or too little history to train; provider errors propagate.
    """

    def __init__(
        self,
        market_data: MarketData,
        universe: list[str],
        *,
        engine: Engine | None = None,
        model_dir: Path | None = None,
        retrain_sessions: int = RETRAIN_SESSIONS,
    ) -> None:
        self.market_data = market_data
        self.universe = sorted({s.upper() for s in universe})
        self.engine = engine
        self.model_dir = model_dir
        self.retrain_sessions = retrain_sessions
        self.name = universe_key(self.universe)
        self._models: dict[date, TrainedModel] = {}
        self._untrainable: set[date] = set()  # sessions where training found too little
        self._features: dict[tuple[date, tuple[str, ...]], tuple[pd.DataFrame, pd.Index]] = {}
        self._scored: dict[tuple[Any, ...], dict[str, tuple[float, float]]] = {}
        self._lock = threading.RLock()

    @classmethod
    def for_settings(
        cls, settings: Any, engine: Engine | None, market_data: MarketData
    ) -> QuantForecaster:
        """One forecaster per (provider, universe, storage) in this process, trained on
        `settings.universe`, saving models under `settings.var_dir / "models" / "forecast"`."""
        key = (id(market_data), tuple(settings.universe), str(settings.var_dir), id(engine))
        with _instances_lock:
            if key not in _instances:
                _instances[key] = cls(
                    market_data,
                    list(settings.universe),
                    engine=engine,
                    model_dir=Path(settings.var_dir) / "models" / "forecast",
                )
            return _instances[key]

    # --- features --------------------------------------------------------------------------
    def _recent_features(
        self, symbols: tuple[str, ...], as_of: datetime
    ) -> tuple[pd.DataFrame, pd.Index]:
        end = last_known_session(as_of)
        key = (end, symbols)
        # Under the lock: a cycle asks for 15 tickers at once, and the day's features should be
        # computed once, not by each of them.
        with self._lock:
            cached = self._features.get(key)
            if cached is not None:
                return cached
            start = end - timedelta(days=int(FEATURE_SESSIONS * CALENDAR_PER_SESSION))
            bars = load_panel_bars(self.market_data, list(symbols), start, end, as_of)
            if not bars:
                raise DataError(f"no bars known at {as_of.isoformat()} for the forecast universe")
            panel = build_panel(bars, _benchmark_bars(self.market_data, start, end, as_of))
            result = (compute_features(panel), panel.close.index)
            if len(self._features) > 8:  # one backtest day at a time; keep a few
                self._features.clear()
            self._features[key] = result
            return result

    # --- models ----------------------------------------------------------------------------
    def _due(self, model: TrainedModel, sessions: pd.Index, session: date) -> bool:
        age = int(sessions.searchsorted(pd.Timestamp(session), side="right")) - int(
            sessions.searchsorted(pd.Timestamp(model.trained_session), side="right")
        )
        return age > self.retrain_sessions or model.trained_session > session

    def _current(self, session: date, sessions: pd.Index) -> TrainedModel | None:
        older = [d for d in self._models if d <= session]
        if not older:
            return None
        model = self._models[max(older)]
        return None if self._due(model, sessions, session) else model

    def _from_registry(
        self, as_of: datetime, sessions: pd.Index, session: date
    ) -> TrainedModel | None:
        if self.engine is None:
            return None
        with session_scope(self.engine) as db:
            saved = store.latest_forecast_model(db, self.name, as_of)
        if saved is None or not Path(saved.path).is_file():
            return None
        model: TrainedModel = joblib.load(saved.path)
        return None if self._due(model, sessions, session) else model

    def _train(self, session: date, as_of: datetime) -> TrainedModel | None:
        start = session - timedelta(
            days=int((TRAIN_SESSIONS + FEATURE_SESSIONS + HORIZON_DAYS) * CALENDAR_PER_SESSION)
        )
        bars = load_panel_bars(self.market_data, self.universe, start, session, as_of)
        if not bars:
            return None
        panel = build_panel(bars, _benchmark_bars(self.market_data, start, session, as_of))
        model = fit_model(
            compute_features(panel), forward_returns(panel.close), panel.close.index, session
        )
        if model is not None:
            self._save(model)
        return model

    def _save(self, model: TrainedModel) -> None:
        if self.model_dir is None:
            return
        self.model_dir.mkdir(parents=True, exist_ok=True)
        path = self.model_dir / f"{self.name}-{model.trained_session.isoformat()}.joblib"
        joblib.dump(model, path)
        if self.engine is not None:
            with session_scope(self.engine) as db:
                store.record_forecast_model(
                    db,
                    store.SavedModel(
                        name=self.name,
                        path=str(path),
                        trained_as_of=session_close(model.trained_session).astimezone(UTC),
                        train_start=model.train_start,
                        train_end=model.train_end,
                        n_samples=model.n_samples,
                        details={"universe": self.universe, "up_rate": round(model.up_rate, 4)},
                    ),
                )

    def model_at(self, as_of: datetime) -> TrainedModel | None:
        """The model in force at `as_of`: cached, registered, or trained now (walk-forward)."""
        features, sessions = self._recent_features(tuple(self.universe), as_of)
        session = sessions[-1].date()
        with self._lock:
            model = self._current(session, sessions)
            if model is None:
                model = self._from_registry(as_of, sessions, session)
            if model is None:
                if session in self._untrainable:
                    return None
                try:
                    model = self._train(session, as_of)
                except ValueError as exc:  # e.g. too few bars for a feature window
                    log.warning("forecast: training at %s failed: %s", session, exc)
                    model = None
                if model is None:
                    # Remembered for the session: every ticker of a cycle asks, and a failed
                    # training would otherwise be repeated for each one.
                    self._untrainable.add(session)
                    log.info("forecast: no model can be trained at %s", session)
                    return None
            self._models[model.trained_session] = model
            return model

    def _predictions(
        self, symbols: tuple[str, ...], as_of: datetime, model: TrainedModel
    ) -> dict[str, tuple[float, float]]:
        """P(up) and expected return of every symbol on the last session, in one model call
        (per-row calls would cost the trees' overhead for each ticker)."""
        features, sessions = self._recent_features(symbols, as_of)
        key = (sessions[-1].date(), symbols, model.trained_session)
        with self._lock:
            cached = self._scored.get(key)
            if cached is not None:
                return cached
            rows = features.xs(sessions[-1], level="date", drop_level=True)
            prob, expected = model.predict(rows) if len(rows) else (np.array([]), np.array([]))
            scored = {
                str(symbol): (float(p), float(e))
                for symbol, p, e in zip(rows.index, prob, expected, strict=True)
            }
            if len(self._scored) > 8:
                self._scored.clear()
            self._scored[key] = scored
            return scored

    def predict(self, symbol: str, as_of: datetime) -> Forecast | None:
        """The 5-day forecast of `symbol` at `as_of`, or None (see the class contract)."""
        symbol = symbol.upper()
        model = self.model_at(as_of)
        if model is None:
            return None
        symbols = tuple(self.universe) if symbol in self.universe else (*self.universe, symbol)
        scored = self._predictions(symbols, as_of, model)
        if symbol not in scored:
            log.info("forecast: no features for %s at %s", symbol, as_of.isoformat())
            return None
        prob, value = scored[symbol]
        return Forecast(
            symbol=symbol,
            as_of=as_of,
            horizon_days=HORIZON_DAYS,
            prob_up=round(min(1.0, max(0.0, prob)), 4),
            expected_return=round(value, 5),
            bin=return_bin(value) if not math.isnan(value) else "U1",
            model=f"{MODEL_FAMILY}@{model.trained_session.isoformat()}",
        )
