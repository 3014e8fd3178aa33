"""Performance metrics of an equity curve and of a list of trades. Pure functions, plain inputs.

Conventions (stated in every report):
- Returns are simple daily returns of the equity at each session's close; 252 sessions a year.
- Sharpe and Sortino use a 0 % risk-free rate: mean daily return over its standard deviation
  (Sortino: over the downside deviation, the root mean square of the negative returns), x sqrt(252).
- Max drawdown is the worst fall from a running peak of the curve; Calmar is the annualised return
  over its absolute value.
- Win rate is the share of closing sells whose realised profit (against the average cost,
  fees included) is positive.
- Turnover is traded value (buys plus sells) over the average equity, per year; exposure is the
  average share of equity held in positions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import BaseModel

TRADING_DAYS_PER_YEAR = 252


class CurveMetrics(BaseModel):
    """Metrics any equity curve has (a strategy or a benchmark). Fractions: 0.12 = 12 %."""

    start_value: float
    end_value: float
    total_return: float
    annualised_return: float
    volatility: float
    sharpe: float | None
    sortino: float | None
    max_drawdown: float
    calmar: float | None
    sessions: int


class TradeMetrics(BaseModel):
    trades: int  # fills
    buys: int
    sells: int
    closed_trades: int  # sells that realised a profit or a loss
    win_rate: float | None
    realised_pnl: float
    fees: float
    turnover: float  # per year, as a multiple of average equity
    exposure: float  # average share of equity in positions


@dataclass(frozen=True)
class Trade:
    """One fill, as the metrics and trades.csv see it."""

    date: str  # ISO session date of the fill
    symbol: str
    side: str  # buy | sell
    quantity: float
    price: float
    fee: float
    reason: str = ""

    @property
    def value(self) -> float:
        return self.quantity * self.price


def curve_metrics(equity: pd.Series) -> CurveMetrics:
    """Metrics of an equity (or index level) curve indexed by session; needs two points."""
    values = equity.dropna().astype(float)
    if len(values) < 2:
        raise ValueError("an equity curve needs at least two sessions")
    returns = values.pct_change().dropna()
    total = float(values.iloc[-1] / values.iloc[0] - 1.0)
    years = len(returns) / TRADING_DAYS_PER_YEAR
    annualised = (1.0 + total) ** (1.0 / years) - 1.0 if total > -1.0 else -1.0
    std = float(returns.std(ddof=1)) if len(returns) > 1 else 0.0
    mean = float(returns.mean())
    downside = float(np.sqrt(np.mean(np.minimum(returns.to_numpy(), 0.0) ** 2)))
    scale = math.sqrt(TRADING_DAYS_PER_YEAR)
    drawdown = float((values / values.cummax() - 1.0).min())
    return CurveMetrics(
        start_value=round(float(values.iloc[0]), 4),
        end_value=round(float(values.iloc[-1]), 4),
        total_return=round(total, 6),
        annualised_return=round(annualised, 6),
        volatility=round(std * scale, 6),
        sharpe=round(mean / std * scale, 4) if std > 0 else None,
        sortino=round(mean / downside * scale, 4) if downside > 0 else None,
        max_drawdown=round(drawdown, 6),
        calmar=round(annualised / abs(drawdown), 4) if drawdown < 0 else None,
        sessions=len(values),
    )


def drawdown_series(equity: pd.Series) -> pd.Series:
    """Fall from the running peak at each session (<= 0)."""
    values = equity.astype(float)
    return values / values.cummax() - 1.0


def trade_metrics(
    trades: Sequence[Trade], equity: pd.Series, gross_exposure: pd.Series
) -> TradeMetrics:
    """Counts, win rate and realised P&L (average-cost method), turnover and exposure."""
    held: dict[str, float] = {}
    cost: dict[str, float] = {}  # total cost basis of what is held, fees included
    wins = closed = 0
    realised = fees = traded = 0.0
    for trade in trades:
        fees += trade.fee
        traded += trade.value
        if trade.side == "buy":
            held[trade.symbol] = held.get(trade.symbol, 0.0) + trade.quantity
            cost[trade.symbol] = cost.get(trade.symbol, 0.0) + trade.value + trade.fee
            continue
        quantity = held.get(trade.symbol, 0.0)
        if quantity <= 0:
            continue  # a sell of something bought before the backtest: no cost basis
        sold = min(trade.quantity, quantity)
        basis = cost[trade.symbol] * sold / quantity
        profit = sold * trade.price - trade.fee - basis
        realised += profit
        closed += 1
        wins += int(profit > 0)
        held[trade.symbol] = quantity - sold
        cost[trade.symbol] -= basis
    values = equity.dropna().astype(float)
    sessions = max(1, len(values) - 1)
    average = float(values.mean()) if len(values) else 0.0
    turnover = traded / average * TRADING_DAYS_PER_YEAR / sessions if average > 0 else 0.0
    exposure_share = (gross_exposure / equity).replace([np.inf, -np.inf], np.nan).dropna()
    return TradeMetrics(
        trades=len(trades),
        buys=sum(1 for t in trades if t.side == "buy"),
        sells=sum(1 for t in trades if t.side == "sell"),
        closed_trades=closed,
        win_rate=round(wins / closed, 4) if closed else None,
        realised_pnl=round(realised, 2),
        fees=round(fees, 2),
        turnover=round(turnover, 4),
        exposure=round(float(exposure_share.mean()), 4) if len(exposure_share) else 0.0,
    )
