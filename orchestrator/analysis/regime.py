"""Market regime: is the market calm and rising, choppy, falling, or in a crisis?

Computed in code, point-in-time, from the benchmark (SPY when the provider has it, else an
equal-weight index of the universe) and the universe's own bars known at `as_of`:

    trend      close vs its 50- and 200-session simple moving averages
    volatility realised, annualised, over the last 20 sessions; its change is that figure divided
               by the same figure 20 sessions earlier (a ratio > 1 means volatility is rising)
    breadth    share of universe members whose last close is above their own 50-session average
    drawdown   last close vs the highest close of the last 252 sessions (one year)

Classification (documented so users and tests can check it):
    crisis    drawdown <= -20 % with volatility >= 30 %, or volatility >= 60 % on its own.
    otherwise a score, one point per condition:
      +1 close above SMA200 by more than 1 %      -1 below it by more than 1 %
      +1 SMA50 above SMA200 by more than 0.5 %    -1 below it by more than 0.5 %
      +1 volatility <= 15 %                        -1 volatility >= 25 %, -2 if >= 35 %
      +1 breadth >= 60 %                           -1 breadth <= 40 %
      -1 drawdown <= -10 %                         -1 volatility ratio >= 1.5 (a spike)
    risk_on when score >= 2, risk_off when score <= -2, neutral between.
The bands around the averages keep a flat market from flipping label on noise.

Failure contract: raises `DataError` when the benchmark has fewer than `MIN_SESSIONS` sessions
known at `as_of`; universe members without enough bars are left out of breadth (and counted).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Literal

import pandas as pd
from pydantic import BaseModel

from orchestrator.data.base import MarketData
from orchestrator.data.benchmark import BENCHMARK_SYMBOL, load_benchmark
from orchestrator.errors import DataError, ProviderError

RegimeLabel = Literal["risk_on", "neutral", "risk_off", "crisis"]

TRADING_DAYS_PER_YEAR = 252
SHORT_AVERAGE = 50
LONG_AVERAGE = 200
VOL_WINDOW = 20
HIGH_WINDOW = 252  # the drawdown is measured from the one-year high
# Below this many sessions the 50-day average is meaningless; the 200-day one is then left out.
MIN_SESSIONS = SHORT_AVERAGE + 1
# 200 sessions are ~290 calendar days; a year's high plus holidays needs a bit more.
LOOKBACK_DAYS = 400

TREND_BAND = 0.01  # close vs SMA200 within 1 % counts as flat
CROSS_BAND = 0.005  # SMA50 vs SMA200 within 0.5 % counts as flat
CALM_VOL = 0.15
HIGH_VOL = 0.25
VERY_HIGH_VOL = 0.35
CRISIS_VOL_WITH_DRAWDOWN = 0.30
CRISIS_VOL_ALONE = 0.60
CRISIS_DRAWDOWN = -0.20
DEEP_DRAWDOWN = -0.10
BROAD_BREADTH = 0.60
NARROW_BREADTH = 0.40
VOL_SPIKE_RATIO = 1.5
RISK_ON_SCORE = 2
RISK_OFF_SCORE = -2


class Regime(BaseModel):
    """The regime at `as_of` and the numbers behind it (percentages are fractions: 0.12 = 12 %)."""

    label: RegimeLabel
    as_of: datetime
    benchmark: str  # "SPY" or "equal-weight index of N symbols"
    session: str  # the last session known (ISO date)
    close: float
    sma50: float
    sma200: float | None  # None when fewer than 200 sessions are known
    close_vs_sma200: float | None
    sma50_vs_sma200: float | None
    volatility: float  # annualised, last 20 sessions
    volatility_change: float | None  # ratio to the 20 sessions before; None if too short
    breadth: float | None  # share of members above their 50-day average; None if none qualify
    breadth_members: int  # members with enough bars to count
    drawdown: float  # from the one-year high, <= 0
    score: int
    explanation: str

    def short(self) -> str:
        """One line for chat and the decision brief."""
        return f"{self.label.replace('_', '-')}: {self.explanation}"


def market_regime(
    market_data: MarketData,
    universe: list[str],
    *,
    as_of: datetime,
    benchmark: str = BENCHMARK_SYMBOL,
) -> Regime:
    """The regime at `as_of` from bars known then (see the module docstring)."""
    end = as_of.date()
    start = end - timedelta(days=LOOKBACK_DAYS)
    bench = load_benchmark(market_data, universe, start, end, as_of=as_of, symbol=benchmark)
    members = _member_closes(market_data, universe, start, end, as_of)
    return classify(bench.levels, members, as_of=as_of, benchmark=bench.name)


def regime_or_none(
    market_data: MarketData,
    universe: list[str],
    *,
    as_of: datetime,
    benchmark: str = BENCHMARK_SYMBOL,
) -> Regime | None:
    """`market_regime`, or None when the history is too short or the data unreadable (a cycle
    goes on without a regime rather than not at all). A `ProviderError` (outage) propagates."""
    try:
        return market_regime(market_data, universe, as_of=as_of, benchmark=benchmark)
    except ProviderError:
        raise
    except DataError:
        return None


def classify(
    levels: pd.Series,
    members: dict[str, pd.Series],
    *,
    as_of: datetime,
    benchmark: str,
) -> Regime:
    """Pure part of `market_regime`: benchmark levels and member closes in, a `Regime` out."""
    levels = levels.dropna().astype(float)
    if len(levels) < MIN_SESSIONS:
        raise DataError(
            f"market regime needs at least {MIN_SESSIONS} sessions of {benchmark} before "
            f"{as_of.date().isoformat()}, found {len(levels)}"
        )
    close = float(levels.iloc[-1])
    sma50 = float(levels.tail(SHORT_AVERAGE).mean())
    sma200 = float(levels.tail(LONG_AVERAGE).mean()) if len(levels) >= LONG_AVERAGE else None
    returns = levels.pct_change().dropna()
    volatility = _annualised(returns.tail(VOL_WINDOW))
    earlier = returns.iloc[:-VOL_WINDOW].tail(VOL_WINDOW)
    prior_vol = _annualised(earlier) if len(earlier) == VOL_WINDOW else 0.0
    vol_change = volatility / prior_vol if prior_vol > 0 else None
    high = float(levels.tail(HIGH_WINDOW).max())
    drawdown = min(0.0, close / high - 1.0)
    breadth, counted = _breadth(members)
    close_vs_long = close / sma200 - 1.0 if sma200 else None
    cross = sma50 / sma200 - 1.0 if sma200 else None

    reasons: list[str] = []
    score = 0
    score += _banded(close_vs_long, TREND_BAND, "close vs SMA200", reasons)
    score += _banded(cross, CROSS_BAND, "SMA50 vs SMA200", reasons)
    if volatility <= CALM_VOL:
        score += 1
        reasons.append(f"calm volatility {volatility:.0%}")
    elif volatility >= VERY_HIGH_VOL:
        score -= 2
        reasons.append(f"very high volatility {volatility:.0%}")
    elif volatility >= HIGH_VOL:
        score -= 1
        reasons.append(f"high volatility {volatility:.0%}")
    if breadth is not None and breadth >= BROAD_BREADTH:
        score += 1
        reasons.append(f"broad breadth {breadth:.0%} above SMA50")
    elif breadth is not None and breadth <= NARROW_BREADTH:
        score -= 1
        reasons.append(f"narrow breadth {breadth:.0%} above SMA50")
    if drawdown <= DEEP_DRAWDOWN:
        score -= 1
        reasons.append(f"drawdown {drawdown:.0%} from the 1-year high")
    if vol_change is not None and vol_change >= VOL_SPIKE_RATIO:
        score -= 1
        reasons.append(f"volatility rising x{vol_change:.1f}")

    label: RegimeLabel
    if (drawdown <= CRISIS_DRAWDOWN and volatility >= CRISIS_VOL_WITH_DRAWDOWN) or (
        volatility >= CRISIS_VOL_ALONE
    ):
        label = "crisis"
        reasons.insert(0, f"drawdown {drawdown:.0%} with volatility {volatility:.0%}")
    elif score >= RISK_ON_SCORE:
        label = "risk_on"
    elif score <= RISK_OFF_SCORE:
        label = "risk_off"
    else:
        label = "neutral"
    explanation = f"{benchmark} score {score:+d}: " + (
        "; ".join(dict.fromkeys(reasons)) or "no strong signal"
    )
    return Regime(
        label=label,
        as_of=as_of,
        benchmark=benchmark,
        session=pd.Timestamp(levels.index[-1]).date().isoformat(),
        close=round(close, 4),
        sma50=round(sma50, 4),
        sma200=round(sma200, 4) if sma200 else None,
        close_vs_sma200=_round(close_vs_long),
        sma50_vs_sma200=_round(cross),
        volatility=round(volatility, 4),
        volatility_change=_round(vol_change),
        breadth=_round(breadth),
        breadth_members=counted,
        drawdown=round(drawdown, 4),
        score=score,
        explanation=explanation,
    )


def _annualised(returns: pd.Series) -> float:
    if len(returns) < 2:
        return 0.0
    return float(returns.std(ddof=1)) * math.sqrt(TRADING_DAYS_PER_YEAR)


def _banded(value: float | None, band: float, name: str, reasons: list[str]) -> int:
    if value is None:
        return 0
    if value > band:
        reasons.append(f"{name} {value:+.1%}")
        return 1
    if value < -band:
        reasons.append(f"{name} {value:+.1%}")
        return -1
    return 0


def _breadth(members: dict[str, pd.Series]) -> tuple[float | None, int]:
    above = counted = 0
    for closes in members.values():
        closes = closes.dropna()
        if len(closes) < SHORT_AVERAGE:
            continue
        counted += 1
        above += int(float(closes.iloc[-1]) > float(closes.tail(SHORT_AVERAGE).mean()))
    return (above / counted if counted else None), counted


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _member_closes(
    market_data: MarketData,
    universe: Sequence[str],
    start: date,
    end: date,
    as_of: datetime,
) -> dict[str, pd.Series]:
    """Closes of the members that have bars; one request, then one per member if that fails
    (a member listed later or delisted must not hide the others)."""
    try:
        bars = market_data.get_bars(list(universe), start, end, as_of=as_of)
        return {symbol: frame["close"] for symbol, frame in bars.items()}
    except ProviderError:
        raise
    except DataError:
        pass
    closes: dict[str, pd.Series] = {}
    for symbol in universe:
        try:
            frame = market_data.get_bars([symbol], start, end, as_of=as_of)[symbol]
        except ProviderError:
            raise
        except DataError:
            continue
        closes[symbol] = frame["close"]
    return closes
