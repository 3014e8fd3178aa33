"""Buy-and-hold benchmarks over the backtest's sessions: SPY, and an equal-weight basket.

Both are bought at the close of the first session (when the strategy starts with cash) and held,
never rebalanced, so they are what a patient investor with the same universe would have had.
Fees and slippage are left out (one trade each, negligible over the period).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd

from orchestrator.data.base import MarketData
from orchestrator.data.benchmark import BENCHMARK_SYMBOL
from orchestrator.errors import DataError, ProviderError


@dataclass(frozen=True)
class BenchmarkCurve:
    name: str
    levels: pd.Series | None  # 1.0 on the first session; None when unavailable
    note: str = ""  # why it is unavailable, or what it holds


def buy_and_hold_symbol(
    market_data: MarketData,
    sessions: pd.DatetimeIndex,
    *,
    as_of: datetime,
    symbol: str = BENCHMARK_SYMBOL,
) -> BenchmarkCurve:
    """`symbol` held from the first session's close; unavailable (with the reason) if the
    provider has no bars for it. A provider outage (`ProviderError`) propagates."""
    name = f"buy-and-hold {symbol}"
    try:
        bars = market_data.get_bars([symbol], sessions[0].date(), sessions[-1].date(), as_of=as_of)[
            symbol
        ]
    except ProviderError:
        raise
    except DataError as exc:
        return BenchmarkCurve(name, None, f"unavailable: {exc}")
    closes = bars["close"].reindex(sessions).ffill()
    if pd.isna(closes.iloc[0]):
        return BenchmarkCurve(name, None, f"unavailable: no {symbol} close on {sessions[0].date()}")
    return BenchmarkCurve(name, (closes / closes.iloc[0]).rename(symbol))


def buy_and_hold_equal_weight(
    market_data: MarketData,
    universe: Sequence[str],
    sessions: pd.DatetimeIndex,
    *,
    as_of: datetime,
) -> BenchmarkCurve:
    """Equal money in every member that trades on the first session, then held (weights drift).
    Members without a first-session close are left out and named in the note."""
    name = "buy-and-hold equal weight"
    start: date = sessions[0].date()
    end: date = sessions[-1].date()
    relatives: dict[str, pd.Series] = {}
    missing: list[str] = []
    for symbol in universe:
        try:
            bars = market_data.get_bars([symbol], start, end, as_of=as_of)[symbol]
        except ProviderError:
            raise
        except DataError:
            missing.append(symbol)
            continue
        closes = bars["close"].reindex(sessions).ffill()
        if pd.isna(closes.iloc[0]):
            missing.append(symbol)
            continue
        relatives[symbol] = closes / closes.iloc[0]
    if not relatives:
        return BenchmarkCurve(name, None, "unavailable: no member traded on the first session")
    levels = pd.DataFrame(relatives).mean(axis=1).rename("equal_weight")
    note = f"{len(relatives)} symbols" + (f"; left out: {', '.join(missing)}" if missing else "")
    return BenchmarkCurve(name, levels, note)
