"""Price and volume features for the forecast model and the screener, vectorised over a panel.

A panel is a set of wide DataFrames (rows: session dates, columns: tickers). Every feature at date
t uses only bars up to t (rolling windows look back), so computing them once on a long history and
reading row t equals computing them at t: the point-in-time rule holds by construction.

The benchmark is SPY (or `benchmark` given) when the data source has it; otherwise an equal-weight
index of the panel's tickers (mean daily return) stands in, and `Panel.benchmark_source` says which
one was used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

HORIZON_DAYS = 5  # the forecast horizon: 5 trading days, FinGPT-Forecaster's weekly view
EQUAL_WEIGHT = "equal-weight universe"

FEATURE_COLUMNS = (
    "ret_1d",
    "ret_5d",
    "ret_20d",
    "ret_60d",
    "vol_20d",
    "vol_60d",
    "rsi_14",
    "macd",
    "macd_hist",
    "volume_z",
    "rel_ret_5d",
    "rel_ret_20d",
    "dist_52w_high",
    "bench_ret_5d",
    "bench_ret_20d",
    "bench_vol_20d",
    "rank_ret_5d",
    "rank_ret_20d",
)


@dataclass(frozen=True)
class Panel:
    close: pd.DataFrame
    volume: pd.DataFrame
    benchmark: pd.Series  # benchmark close (or equal-weight index level), same index as close
    benchmark_source: str  # the symbol used, or EQUAL_WEIGHT


def build_panel(
    bars: Mapping[str, pd.DataFrame], benchmark_bars: pd.DataFrame | None, benchmark: str = "SPY"
) -> Panel:
    """Align per-ticker bars into wide frames; falls back to an equal-weight benchmark."""
    close = pd.DataFrame({s: b["close"] for s, b in bars.items() if len(b)}).sort_index()
    volume = pd.DataFrame({s: b["volume"] for s, b in bars.items() if len(b)}).sort_index()
    close = close.astype(float)
    if benchmark_bars is not None and len(benchmark_bars):
        bench = benchmark_bars["close"].astype(float).reindex(close.index).ffill()
        source = benchmark
    else:
        daily = close.pct_change(fill_method=None).mean(axis=1, skipna=True).fillna(0.0)
        bench = (1.0 + daily).cumprod()
        source = EQUAL_WEIGHT
    return Panel(close=close, volume=volume.astype(float), benchmark=bench, benchmark_source=source)


def _rsi(close: pd.DataFrame, window: int = 14) -> pd.DataFrame:
    """Wilder's RSI in [0, 100]."""
    delta = close.diff()
    gain = delta.clip(lower=0).ewm(alpha=1 / window, adjust=False, min_periods=window).mean()
    loss = (-delta.clip(upper=0)).ewm(alpha=1 / window, adjust=False, min_periods=window).mean()
    strength = gain / loss.replace(0.0, np.nan)
    rsi = 100 - 100 / (1 + strength)
    return rsi.where(loss > 0, 100.0).where(gain.notna())


def compute_features(panel: Panel) -> pd.DataFrame:
    """Long frame indexed by (date, symbol) with `FEATURE_COLUMNS`; rows with gaps are NaN."""
    close, volume = panel.close, panel.volume
    log_close = np.log(close)
    daily = log_close.diff()
    bench_log = np.log(panel.benchmark)
    bench_daily = bench_log.diff()

    def ret(k: int) -> pd.DataFrame:
        return log_close - log_close.shift(k)

    ema12 = close.ewm(span=12, adjust=False, min_periods=26).mean()
    ema26 = close.ewm(span=26, adjust=False, min_periods=26).mean()
    macd = (ema12 - ema26) / close
    log_volume = np.log(volume.where(volume > 0))
    bench_5 = bench_log - bench_log.shift(5)
    bench_20 = bench_log - bench_log.shift(20)
    frames = {
        "ret_1d": daily,
        "ret_5d": ret(5),
        "ret_20d": ret(20),
        "ret_60d": ret(60),
        "vol_20d": daily.rolling(20, min_periods=15).std(),
        "vol_60d": daily.rolling(60, min_periods=40).std(),
        "rsi_14": _rsi(close),
        "macd": macd,
        "macd_hist": macd - macd.ewm(span=9, adjust=False).mean(),
        "volume_z": (log_volume - log_volume.rolling(20, min_periods=15).mean())
        / log_volume.rolling(20, min_periods=15).std(),
        "rel_ret_5d": ret(5).sub(bench_5, axis=0),
        "rel_ret_20d": ret(20).sub(bench_20, axis=0),
        "dist_52w_high": close / close.rolling(252, min_periods=120).max() - 1.0,
        "bench_ret_5d": pd.DataFrame({s: bench_5 for s in close.columns}),
        "bench_ret_20d": pd.DataFrame({s: bench_20 for s in close.columns}),
        "bench_vol_20d": pd.DataFrame(
            {s: bench_daily.rolling(20, min_periods=15).std() for s in close.columns}
        ),
        "rank_ret_5d": ret(5).rank(axis=1, pct=True),
        "rank_ret_20d": ret(20).rank(axis=1, pct=True),
    }
    stacked = {name: frame.stack(future_stack=True) for name, frame in frames.items()}
    long = pd.DataFrame(stacked)
    long.index.names = ["date", "symbol"]
    long = long.replace([np.inf, -np.inf], np.nan)
    # A row is usable once the ticker has a price that day; other gaps stay NaN (the model copes).
    present = close.stack(future_stack=True).notna()
    return long[present.reindex(long.index, fill_value=False).to_numpy()]


def forward_returns(close: pd.DataFrame, horizon: int = HORIZON_DAYS) -> pd.Series:
    """Simple return from the close of t to the close `horizon` sessions later, by (date, symbol).

    Only for training and evaluation: the value at t is known at session t + horizon.
    """
    forward = close.shift(-horizon) / close - 1.0
    series = forward.stack(future_stack=True)
    series.index.names = ["date", "symbol"]
    return series
