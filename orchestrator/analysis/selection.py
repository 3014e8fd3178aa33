"""The screener: filter the universe, score factors, rank, keep the top `MAX_CANDIDATES`.

Point-in-time: every read goes through the provider with `as_of`, so nothing dated later is seen.

Two stages, so an S&P-sized universe costs one bar read and a few vectorised numpy passes:
1. **Price stage (every ticker).** Bars of the last `LOOKBACK_DAYS` are aligned in one wide frame.
   Filters: last close >= `min_price`, 20-session mean of close x volume >= `min_avg_dollar_volume`,
   and at least `MIN_SESSIONS` sessions of history. Factors (all from bars up to `as_of`):
   `mom_5d`, `mom_20d`, `mom_60d`, `mom_120d` (log returns), `vol_20d` (annualised volatility of
   daily log returns), `dist_52w_high` (last close / 252-session high - 1, <= 0) and
   `volume_surge` (log of 5-session over 60-session mean volume).
2. **News stage (the best `NEWS_SHORTLIST_FACTOR` x MAX_CANDIDATES, plus holdings).** News of the
   last `NEWS_WINDOW` gives `news_count` and `sentiment_change`: the mean lexicon score of the
   last 3 days' headlines minus that of the 4 days before (the offline lexicon, so ranking never
   spends tokens). Only a shortlist reads news: a remote provider would otherwise make one news
   request per ticker of the universe.

Rank: each factor becomes a cross-sectional percentile p in [0, 1] among the tickers that passed
the filters, centred to 2p - 1 in [-1, 1], and multiplied by its weight in `FACTOR_WEIGHTS` (a
negative weight prefers low values: calm stocks, last month's losers). The score is the weighted
mean over the factors a ticker has (news factors only exist for the shortlist; tickers without
them are ranked on price factors alone). Ties break by symbol so the order is deterministic.

Current holdings are always returned (after the ranked candidates), even when filtered out.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from orchestrator.analysis.lexicon import default_lexicon
from orchestrator.config import Settings
from orchestrator.data.base import MarketData
from orchestrator.data.frames import last_known_session
from orchestrator.errors import DataError, ProviderError

log = logging.getLogger(__name__)

# 52 weeks of sessions plus room for holidays: the longest factor (52-week high) needs 252.
LOOKBACK_DAYS = 400
MIN_SESSIONS = 60  # two quarters of history before a ticker is ranked at all
TRADING_DAYS_PER_YEAR = 252
NEWS_WINDOW = timedelta(days=7)
NEWS_RECENT = timedelta(days=3)
NEWS_LIMIT = 100  # per ticker; more than a week of headlines for the busiest large cap
NEWS_SHORTLIST_FACTOR = 3

# Weights of the centred percentile of each factor, set from the equity-factor literature rather
# than fitted here: intermediate-term momentum (Jegadeesh & Titman 1993) and nearness to the
# 52-week high (George & Hwang 2004) rank up; the last week and month rank slightly down
# (short-term reversal, Jegadeesh 1990); high volatility ranks down (the low-volatility anomaly).
# News activity and a turn for the better in tone rank up. Evaluation: docs/benchmarks/analysis.md.
FACTOR_WEIGHTS: dict[str, float] = {
    "mom_5d": -0.05,
    "mom_20d": -0.05,
    "mom_60d": 0.10,
    "mom_120d": 0.25,
    "vol_20d": -0.15,
    "dist_52w_high": 0.20,
    "volume_surge": 0.05,
    "news_count": 0.05,
    "sentiment_change": 0.10,
}
PRICE_FACTORS = (
    "mom_5d", "mom_20d", "mom_60d", "mom_120d", "vol_20d", "dist_52w_high", "volume_surge",
)  # fmt: skip
NEWS_FACTORS = ("news_count", "sentiment_change")


@dataclass(frozen=True)
class Candidate:
    symbol: str
    score: float  # weighted mean of centred percentiles, in [-1, 1]
    factors: dict[str, float]  # raw factor values, plus "price" and "avg_dollar_volume"
    held: bool = False
    passed_filters: bool = True


@dataclass
class Selection:
    as_of: datetime
    candidates: list[Candidate]
    universe_size: int
    passed_filters: int
    excluded: dict[str, str] = field(default_factory=dict)  # symbol -> why it was not ranked


def _fetch_bars(
    market_data: MarketData, symbols: Sequence[str], as_of: datetime
) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """Bars of every symbol that has some; the others go to `missing` with the reason.

    One batched read first; if it names missing tickers, read one by one to keep the others.
    Provider (network) errors propagate: a ranking built on an outage would be silently wrong.
    """
    end = last_known_session(as_of)
    start = end - timedelta(days=LOOKBACK_DAYS)
    try:
        return market_data.get_bars(list(symbols), start, end, as_of=as_of), {}
    except ProviderError:
        raise
    except DataError:
        pass
    bars: dict[str, pd.DataFrame] = {}
    missing: dict[str, str] = {}
    for symbol in symbols:
        try:
            bars.update(market_data.get_bars([symbol], start, end, as_of=as_of))
        except ProviderError:
            raise
        except DataError as exc:
            missing[symbol] = str(exc)
    return bars, missing


def price_factors(close: pd.DataFrame, volume: pd.DataFrame) -> pd.DataFrame:
    """Price-stage factors of the LAST row of wide close/volume frames (sessions x tickers),
    plus `price`, `avg_dollar_volume` and `sessions`. One row per ticker."""
    values = close.to_numpy(float)
    vols = volume.to_numpy(float)
    sessions = np.sum(~np.isnan(values), axis=0)
    # Forward-fill so a ticker that skipped the last session is read at its last close.
    filled = close.ffill().to_numpy(float)
    last = filled[-1]
    logs = np.log(np.where(filled > 0, filled, np.nan))

    def momentum(k: int) -> np.ndarray:
        if len(logs) <= k:
            return np.full(len(last), np.nan)
        return logs[-1] - logs[-1 - k]

    daily = np.diff(logs[-21:], axis=0)
    # Tickers with too few bars give all-NaN slices: NaN factors are the right answer there.
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        vol20 = np.nanstd(daily, axis=0, ddof=1) * math.sqrt(TRADING_DAYS_PER_YEAR)
        high = np.nanmax(filled[-TRADING_DAYS_PER_YEAR:], axis=0)
        dollar = np.nanmean((values * vols)[-20:], axis=0)
        surge = np.log(np.nanmean(vols[-5:], axis=0) / np.nanmean(vols[-60:], axis=0))
    frame = pd.DataFrame(
        {
            "mom_5d": momentum(5),
            "mom_20d": momentum(20),
            "mom_60d": momentum(60),
            "mom_120d": momentum(120),
            "vol_20d": vol20,
            "dist_52w_high": last / high - 1.0,
            "volume_surge": surge,
            "price": last,
            "avg_dollar_volume": dollar,
            "sessions": sessions.astype(float),
        },
        index=close.columns,
    )
    return frame.replace([np.inf, -np.inf], np.nan)


def news_factors(
    market_data: MarketData, symbols: Sequence[str], as_of: datetime
) -> dict[str, dict[str, float]]:
    """`news_count` and `sentiment_change` per symbol from the last `NEWS_WINDOW` of news."""
    lexicon = default_lexicon()
    recent_from = as_of - NEWS_RECENT
    out: dict[str, dict[str, float]] = {}
    for symbol in symbols:
        try:
            items = market_data.get_news(
                [symbol], as_of=as_of, since=as_of - NEWS_WINDOW, limit=NEWS_LIMIT
            )
        except (DataError, ProviderError) as exc:
            # One ticker's news outage must not stop the screen: it ranks without news factors,
            # and the analysis step records the failure on that candidate.
            log.warning("news factors for %s unavailable: %s", symbol, exc)
            continue
        recent = [lexicon.classify(i.headline).score for i in items if i.published_at > recent_from]
        older = [lexicon.classify(i.headline).score for i in items if i.published_at <= recent_from]
        change = (np.mean(recent) if recent else 0.0) - (np.mean(older) if older else 0.0)
        out[symbol] = {"news_count": float(len(items)), "sentiment_change": float(change)}
    return out


def rank_scores(factors: pd.DataFrame, weights: Mapping[str, float] = FACTOR_WEIGHTS) -> pd.Series:
    """Weighted mean of centred cross-sectional percentiles (see the module docstring)."""
    total = pd.Series(0.0, index=factors.index)
    weight_sum = pd.Series(0.0, index=factors.index)
    for name, weight in weights.items():
        if name not in factors:
            continue
        column = factors[name]
        present = column.notna()
        if present.sum() < 2:
            continue
        centred = 2.0 * column.rank(pct=True, method="average") - 1.0
        # An average rank of n tickers tops out at 1 and bottoms at 1/n: re-centre on the mean.
        centred = centred - centred[present].mean()
        total = total.add((weight * centred).where(present, 0.0), fill_value=0.0)
        weight_sum = weight_sum.add(present.astype(float) * abs(weight), fill_value=0.0)
    return (total / weight_sum.replace(0.0, np.nan)).fillna(0.0).clip(-1.0, 1.0)


def _candidate(symbol: str, row: pd.Series, score: float, held: bool, passed: bool) -> Candidate:
    factors = {
        name: round(float(value), 6)
        for name, value in row.items()
        if name != "sessions" and value is not None and not pd.isna(value)
    }
    return Candidate(symbol, round(float(score), 6), factors, held=held, passed_filters=passed)


def screen(
    market_data: MarketData,
    universe: Sequence[str],
    *,
    as_of: datetime,
    min_price: float,
    min_avg_dollar_volume: float,
    news_for: int,
    holdings: Sequence[str] = (),
) -> tuple[pd.DataFrame, pd.Series, dict[str, str]]:
    """Every ticker's factors (filtered-out ones too), the scores of those that passed, and why
    the others were excluded. `news_for` tickers (the best by price factors) also read news."""
    symbols = list(dict.fromkeys(s.upper() for s in [*universe, *holdings]))
    bars, excluded = _fetch_bars(market_data, symbols, as_of)
    if not bars:
        raise DataError(f"no bars known at {as_of.isoformat()} for any ticker of the universe")
    close = pd.DataFrame({s: b["close"] for s, b in bars.items()}).sort_index()
    volume = pd.DataFrame({s: b["volume"] for s, b in bars.items()}).reindex(close.index)
    factors = price_factors(close, volume)
    passed = (
        (factors["price"] >= min_price)
        & (factors["avg_dollar_volume"].fillna(0.0) >= min_avg_dollar_volume)
        & (factors["sessions"] >= MIN_SESSIONS)
    )
    for symbol in factors.index[~passed]:
        row = factors.loc[symbol]
        if row["sessions"] < MIN_SESSIONS:
            excluded[symbol] = f"only {int(row['sessions'])} sessions of history"
        elif row["price"] < min_price:
            excluded[symbol] = f"price {row['price']:.2f} below {min_price:g}"
        else:
            excluded[symbol] = "average dollar volume below the minimum"
    ranked = factors[passed]
    scores = rank_scores(ranked[list(PRICE_FACTORS)])
    if news_for > 0 and len(ranked):
        shortlist = list(scores.sort_values(ascending=False).index[:news_for])
        shortlist += [s for s in holdings if s in factors.index and s not in shortlist]
        news = news_factors(market_data, shortlist, as_of)
        for name in NEWS_FACTORS:
            factors[name] = pd.Series({s: v[name] for s, v in news.items()}, dtype=float)
        ranked = factors[passed]
        scores = rank_scores(ranked[[*PRICE_FACTORS, *NEWS_FACTORS]])
    return factors, scores, excluded


def select_stocks(
    market_data: MarketData,
    universe: list[str],
    *,
    as_of: datetime,
    holdings: list[str],
    settings: Settings,
) -> Selection:
    """Up to `settings.max_candidates` ranked candidates, plus every holding (see module doc).

    Raises `DataError` when no ticker of the universe has bars; a ticker without bars is only
    listed in `Selection.excluded`. `ProviderError` (network) propagates.
    """
    holdings = [h.upper() for h in holdings]
    factors, scores, excluded = screen(
        market_data,
        universe,
        as_of=as_of,
        min_price=settings.min_price,
        min_avg_dollar_volume=settings.min_avg_dollar_volume,
        news_for=NEWS_SHORTLIST_FACTOR * settings.max_candidates,
        holdings=holdings,
    )
    order = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    candidates = [
        _candidate(symbol, factors.loc[symbol], score, symbol in holdings, True)
        for symbol, score in order[: settings.max_candidates]
    ]
    chosen = {c.symbol for c in candidates}
    for symbol in holdings:
        if symbol in chosen:
            continue
        if symbol in factors.index:
            score = float(scores.get(symbol, 0.0))
            passed = symbol in scores.index
            candidates.append(_candidate(symbol, factors.loc[symbol], score, True, passed))
        else:
            candidates.append(Candidate(symbol, 0.0, {}, held=True, passed_filters=False))
        chosen.add(symbol)
    return Selection(
        as_of=as_of,
        candidates=candidates,
        universe_size=len(set(universe) | set(holdings)),
        passed_filters=len(scores),
        excluded=excluded,
    )
