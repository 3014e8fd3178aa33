"""A benchmark price series: SPY when the provider has it, else an equal-weight universe index.

The bundled sample has no SPY (its licence is unclear), so backtests and reports over it compare
against an equal-weight, daily-rebalanced index of the universe instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd

from orchestrator.data.base import MarketData
from orchestrator.errors import DataError, ProviderError

BENCHMARK_SYMBOL = "SPY"


@dataclass(frozen=True)
class Benchmark:
    """`levels` starts at 1.0 on the first session; `name` says what it is."""

    name: str
    levels: pd.Series  # indexed by session date (the bars' `date` index)


def equal_weight_index(bars: dict[str, pd.DataFrame]) -> pd.Series:
    """Equal-weight, daily-rebalanced index of the closes, 1.0 on the first common session.

    Sessions where a symbol has no bar use the mean return of the symbols that do.
    """
    closes = pd.DataFrame({symbol: frame["close"] for symbol, frame in bars.items()}).sort_index()
    returns = closes.pct_change(fill_method=None).iloc[1:].mean(axis=1, skipna=True).fillna(0.0)
    levels = pd.concat([pd.Series([1.0], index=closes.index[:1]), (1.0 + returns).cumprod()])
    return levels.rename("equal_weight")


def load_benchmark(
    market_data: MarketData,
    universe: Sequence[str],
    start: date,
    end: date,
    *,
    as_of: datetime,
    symbol: str = BENCHMARK_SYMBOL,
) -> Benchmark:
    """SPY's close levels if the provider has them, else the universe's equal-weight index.

    A `ProviderError` (network) propagates: falling back then would hide an outage. Raises
    `DataError` when neither the symbol nor any universe member has bars in the range.
    """
    try:
        closes = market_data.get_bars([symbol], start, end, as_of=as_of)[symbol]["close"]
        return Benchmark(name=symbol, levels=(closes / closes.iloc[0]).rename(symbol))
    except ProviderError:
        raise
    except DataError:
        pass
    try:
        bars = market_data.get_bars(list(universe), start, end, as_of=as_of)
    except ProviderError:
        raise
    except DataError:
        bars = _bars_of_those_listed(market_data, universe, start, end, as_of)
    return Benchmark(
        name=f"equal-weight index of {len(bars)} symbols", levels=equal_weight_index(bars)
    )


def _bars_of_those_listed(
    market_data: MarketData, universe: Sequence[str], start: date, end: date, as_of: datetime
) -> dict[str, pd.DataFrame]:
    """Per-symbol fetch keeping the members that have bars (some list later or delist)."""
    bars: dict[str, pd.DataFrame] = {}
    for member in universe:
        try:
            bars.update(market_data.get_bars([member], start, end, as_of=as_of))
        except ProviderError:
            raise
        except DataError:
            continue
    if not bars:
        raise DataError(
            f"no benchmark: neither {BENCHMARK_SYMBOL} nor any universe member has bars "
            f"between {start.isoformat()} and {end.isoformat()}"
        )
    return bars
