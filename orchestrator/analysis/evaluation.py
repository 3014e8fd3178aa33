"""Evaluations behind `fingpt eval sentiment|forecast|selection`, on anyone's data.

- Sentiment: a `text,label` CSV through the offline lexicon (or any per-text classifier):
  accuracy, weighted F1, the confusion matrix and items per second.
- Forecast: walk-forward weekly forecasts over a csv price folder. Features are computed once on
  the whole history, which is point-in-time by construction (`features` uses trailing windows
  only); each model is trained by `quant.fit_model`, the same function the live forecaster uses,
  on outcomes known at its training session, and retrained every `retrain_sessions`. Reported next
  to two baselines: always-up (P = the training up-rate) and last week's momentum.
- Selection: every `SELECTION_STEP` sessions, the screener (`selection.screen`, the function the
  cycle uses) ranks the folder's tickers at that close; the forward 20-session return of its top
  decile is compared with the mean of every ticker that passed the filters.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from orchestrator.analysis.bins import bin_midpoint, return_bin
from orchestrator.analysis.features import (
    HORIZON_DAYS,
    build_panel,
    compute_features,
    forward_returns,
)
from orchestrator.analysis.lexicon import CLASSES, default_lexicon
from orchestrator.analysis.quant import (
    BENCHMARK,
    CALENDAR_PER_SESSION,
    FEATURE_SESSIONS,
    RETRAIN_SESSIONS,
    TRAIN_SESSIONS,
    fit_model,
    load_panel_bars,
)
from orchestrator.analysis.selection import screen
from orchestrator.data.csv_provider import CsvMarketData
from orchestrator.domain import session_close
from orchestrator.errors import DataError

# The Twitter Financial News set's numeric labels.
TWITTER_LABELS = {"0": "negative", "1": "positive", "2": "neutral"}
SELECTION_STEP = 20  # monthly rebalancing, the horizon the forward return is measured over
SELECTION_FORWARD = 20


# --- sentiment -------------------------------------------------------------------------------
@dataclass
class SentimentEval:
    items: int
    accuracy: float
    weighted_f1: float
    per_class_f1: dict[str, float]
    confusion: dict[str, dict[str, int]]  # true label -> predicted label -> count
    items_per_second: float
    engine: str


def parse_label_map(text: str | None) -> dict[str, str]:
    """ "0=negative,1=positive,2=neutral" -> mapping; empty means labels are already names."""
    if not text:
        return {}
    mapping: dict[str, str] = {}
    for part in text.split(","):
        raw, sep, name = part.partition("=")
        name = name.strip().lower()
        if not sep or name not in CLASSES:
            raise DataError(
                f"--label-map entry {part!r} must look like 0=negative "
                f"(labels: {', '.join(CLASSES)})"
            )
        mapping[raw.strip()] = name
    return mapping


def read_labelled(path: Path, label_map: Mapping[str, str]) -> list[tuple[str, str]]:
    """(text, label) rows of a `text,label` CSV; a clear `DataError` for anything else."""
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"text", "label"} <= set(reader.fieldnames):
            raise DataError(f"{path} needs the columns text,label (found {reader.fieldnames})")
        rows = []
        for number, row in enumerate(reader, 2):
            raw = (row["label"] or "").strip()
            label = label_map.get(raw, raw.lower())
            if label not in CLASSES:
                raise DataError(
                    f"{path} line {number}: label {raw!r} is not positive/negative/neutral; "
                    "pass --label-map (e.g. 0=negative,1=positive,2=neutral)"
                )
            rows.append((row["text"] or "", label))
    if not rows:
        raise DataError(f"{path} has no rows")
    return rows


def evaluate_sentiment(
    rows: list[tuple[str, str]], classify: Callable[[str], str] | None = None, engine: str = ""
) -> SentimentEval:
    if classify is None:
        lexicon = default_lexicon()
        engine = engine or lexicon.engine

        def classify(text: str) -> str:
            return lexicon.classify(text).label

    started = time.perf_counter()
    predicted = [classify(text) for text, _ in rows]
    seconds = max(time.perf_counter() - started, 1e-9)
    confusion: dict[str, dict[str, int]] = {t: dict.fromkeys(CLASSES, 0) for t in CLASSES}
    for (_, truth), guess in zip(rows, predicted, strict=True):
        confusion[truth][guess] += 1
    per_class: dict[str, float] = {}
    weighted = 0.0
    for label in CLASSES:
        tp = confusion[label][label]
        fp = sum(confusion[t][label] for t in CLASSES) - tp
        fn = sum(confusion[label].values()) - tp
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        per_class[label] = round(f1, 4)
        weighted += f1 * sum(confusion[label].values())
    hits = sum(confusion[t][t] for t in CLASSES)
    return SentimentEval(
        items=len(rows),
        accuracy=round(hits / len(rows), 4),
        weighted_f1=round(weighted / len(rows), 4),
        per_class_f1=per_class,
        confusion=confusion,
        items_per_second=round(len(rows) / seconds, 1),
        engine=engine,
    )


# --- forecast --------------------------------------------------------------------------------
@dataclass
class ForecastScores:
    name: str
    binary_accuracy: float
    bin_mse: float  # mean squared error of bin midpoints, in percent squared (FinGPT's metric)
    brier: float | None  # None for a baseline without a probability


@dataclass
class ForecastEval:
    tickers: int
    ticker_weeks: int
    weeks: int
    retrains: int
    start: date
    end: date
    benchmark: str
    scores: list[ForecastScores]
    up_rate: float  # share of up weeks in the evaluation period
    seconds: float
    skipped: list[str] = field(default_factory=list)


def _score(
    name: str,
    up: np.ndarray,
    bins: Iterable[str],
    actual: np.ndarray,
    prob: np.ndarray | None = None,
) -> ForecastScores:
    truth_up = actual > 0
    mids = np.array([bin_midpoint(b) for b in bins]) * 100
    truth_mids = np.array([bin_midpoint(return_bin(v)) for v in actual]) * 100
    brier = float(np.mean((prob - truth_up) ** 2)) if prob is not None else None
    return ForecastScores(
        name=name,
        binary_accuracy=round(float(np.mean(up == truth_up)), 4),
        bin_mse=round(float(np.mean((mids - truth_mids) ** 2)), 3),
        brier=round(brier, 4) if brier is not None else None,
    )


def evaluate_forecast(
    data_dir: Path,
    start: date,
    end: date,
    tickers: list[str] | None = None,
    *,
    retrain_sessions: int = RETRAIN_SESSIONS,
    on_progress: Callable[[int, int], None] | None = None,
) -> ForecastEval:
    """Walk-forward weekly forecasts (see the module docstring)."""
    started = time.perf_counter()
    provider = CsvMarketData(data_dir)
    symbols = [t.upper() for t in tickers] if tickers else provider.symbols()
    symbols = [s for s in symbols if s != BENCHMARK]
    history_start = start - timedelta(
        days=int((TRAIN_SESSIONS + FEATURE_SESSIONS + 2 * HORIZON_DAYS) * CALENDAR_PER_SESSION)
    )
    # Outcomes of the last weeks need HORIZON_DAYS sessions after `end`; features never look ahead.
    load_until = end + timedelta(days=14)
    as_of = session_close(load_until)
    bars = load_panel_bars(provider, symbols, history_start, load_until, as_of)
    if not bars:
        raise DataError(f"no price files with bars between {start} and {end} in {data_dir}")
    skipped = sorted(set(symbols) - set(bars))
    try:
        bench = provider.get_bars([BENCHMARK], history_start, load_until, as_of=as_of)[BENCHMARK]
    except DataError:
        bench = None
    panel = build_panel(bars, bench, BENCHMARK)
    features = compute_features(panel)
    forward = forward_returns(panel.close)
    sessions = panel.close.index
    in_range = sessions[(sessions >= pd.Timestamp(start)) & (sessions <= pd.Timestamp(end))]
    weeks = in_range[::HORIZON_DAYS]
    retrain_points = in_range[::retrain_sessions]
    records: list[pd.DataFrame] = []
    for number, point in enumerate(retrain_points):
        model = fit_model(features, forward, sessions, point.date())
        if on_progress:
            on_progress(number + 1, len(retrain_points))
        if model is None:
            continue
        upto = retrain_points[number + 1] if number + 1 < len(retrain_points) else None
        chosen = weeks[(weeks >= point) & ((weeks < upto) if upto is not None else True)]
        rows = features[features.index.get_level_values("date").isin(chosen)]
        actual = forward.reindex(rows.index)
        rows, actual = rows[actual.notna().to_numpy()], actual[actual.notna()]
        if not len(rows):
            continue
        prob, expected = model.predict(rows)
        records.append(
            pd.DataFrame(
                {
                    "prob": prob,
                    "expected": expected,
                    "actual": actual.to_numpy(),
                    "last_week": rows["ret_5d"].to_numpy(),
                    "up_rate": model.up_rate,
                },
                index=rows.index,
            )
        )
    if not records:
        raise DataError("too little history before --start to train a model; start later")
    table = pd.concat(records)
    actual = table["actual"].to_numpy()
    last_week = np.expm1(np.nan_to_num(table["last_week"].to_numpy()))  # log -> simple return
    prob = table["prob"].to_numpy()
    scores = [
        _score("quant model", prob >= 0.5, map(return_bin, table["expected"]), actual, prob),
        _score(
            "always up",
            np.ones(len(actual), bool),
            ["U1"] * len(actual),
            actual,
            table["up_rate"].to_numpy(),
        ),
        _score("last-week momentum", last_week > 0, map(return_bin, last_week), actual),
    ]
    return ForecastEval(
        tickers=table.index.get_level_values("symbol").nunique(),
        ticker_weeks=len(table),
        weeks=table.index.get_level_values("date").nunique(),
        retrains=len(retrain_points),
        start=start,
        end=end,
        benchmark=panel.benchmark_source,
        scores=scores,
        up_rate=round(float(np.mean(actual > 0)), 4),
        seconds=round(time.perf_counter() - started, 1),
        skipped=skipped,
    )


# --- selection -------------------------------------------------------------------------------
@dataclass
class SelectionEval:
    periods: int
    tickers: int
    top_decile_return: float  # mean forward 20-session return of the top decile, fraction
    universe_return: float  # mean of every ticker that passed the filters
    excess_return: float
    hit_rate: float  # share of periods where the top decile beat the universe
    seconds_per_screen: float
    start: date
    end: date


def evaluate_selection(
    data_dir: Path,
    start: date,
    end: date,
    *,
    min_price: float = 5.0,
    min_avg_dollar_volume: float = 5_000_000.0,
    tickers: list[str] | None = None,
) -> SelectionEval:
    provider = CsvMarketData(data_dir)
    symbols = [t.upper() for t in tickers] if tickers else provider.symbols()
    symbols = [s for s in symbols if s != BENCHMARK]
    load_until = end + timedelta(days=45)
    bars = load_panel_bars(provider, symbols, start, load_until, session_close(load_until))
    if not bars:
        raise DataError(f"no price files with bars between {start} and {end} in {data_dir}")
    close = pd.DataFrame({s: b["close"] for s, b in bars.items()}).sort_index()
    forward = close.shift(-SELECTION_FORWARD) / close - 1.0
    sessions = close.index[
        (close.index >= pd.Timestamp(start)) & (close.index <= pd.Timestamp(end))
    ]
    top, universe, wins, timings = [], [], 0, []
    for session in sessions[::SELECTION_STEP]:
        started = time.perf_counter()
        _factors, scores, _excluded = screen(
            provider,
            list(bars),
            as_of=session_close(session.date()),
            min_price=min_price,
            min_avg_dollar_volume=min_avg_dollar_volume,
            news_for=0,
        )
        timings.append(time.perf_counter() - started)
        returns = forward.loc[session].reindex(scores.index).dropna()
        if len(returns) < 10:
            continue
        ranked = scores.reindex(returns.index).sort_values(ascending=False, kind="stable")
        best = returns[ranked.index[: max(1, len(ranked) // 10)]]
        top.append(float(best.mean()))
        universe.append(float(returns.mean()))
        wins += bool(best.mean() > returns.mean())
    if not top:
        raise DataError(f"no screen between {start} and {end} had 10 tickers with outcomes")
    return SelectionEval(
        periods=len(top),
        tickers=len(bars),
        top_decile_return=round(float(np.mean(top)), 5),
        universe_return=round(float(np.mean(universe)), 5),
        excess_return=round(float(np.mean(top) - np.mean(universe)), 5),
        hit_rate=round(wins / len(top), 4),
        seconds_per_screen=round(float(np.median(timings)), 3),
        start=start,
        end=end,
    )
