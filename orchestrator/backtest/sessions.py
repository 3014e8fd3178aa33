"""Which sessions a backtest walks, and on which of them it rebalances.

Sessions come from the data itself: every date on which any universe member has a bar between
start and end. The data's own calendar is the truth for a backtest (a csv folder may follow an
exchange other than NYSE, and a holiday the calendar forgot would otherwise get a cycle with no
new prices).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Literal

import pandas as pd

from orchestrator.data.base import MarketData
from orchestrator.domain import session_close
from orchestrator.errors import DataError, ProviderError

Rebalance = Literal["daily", "weekly"]


def trading_sessions(
    market_data: MarketData, universe: Sequence[str], start: date, end: date
) -> pd.DatetimeIndex:
    """Dates with a bar for any member in [start, end]. Raises `DataError` if there are none."""
    as_of = session_close(end)
    days: set[pd.Timestamp] = set()
    for symbol in universe:
        try:
            bars = market_data.get_bars([symbol], start, end, as_of=as_of)[symbol]
        except ProviderError:
            raise
        except DataError:
            continue  # listed later or delisted: its sessions come from the others
        days.update(pd.DatetimeIndex(bars.index))
    if not days:
        raise DataError(
            f"no bars for any of {', '.join(universe)} between {start.isoformat()} and "
            f"{end.isoformat()}; check the dates and the data folder"
        )
    return pd.DatetimeIndex(sorted(days), name="date")


def rebalance_days(sessions: pd.DatetimeIndex, rebalance: Rebalance) -> set[date]:
    """Every session (daily), or the last session of each calendar week (weekly: decide on the
    week's last close, fill at the next week's first open)."""
    if rebalance == "daily":
        return {stamp.date() for stamp in sessions}
    frame = pd.Series(sessions, index=sessions)
    weeks = frame.groupby([sessions.isocalendar().year, sessions.isocalendar().week]).max()
    return {stamp.date() for stamp in weeks}
