"""Constructed price folders for regime tests: the real csv provider over files we control."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

SESSIONS = pd.bdate_range("2015-01-02", periods=320)


def write_folder(folder: Path, paths: dict[str, np.ndarray]) -> Path:
    """Write one yfinance-layout file per symbol (closes given; OHLC around them)."""
    folder.mkdir(parents=True, exist_ok=True)
    for symbol, closes in paths.items():
        days = SESSIONS[: len(closes)]
        frame = pd.DataFrame(
            {
                "Date": days.strftime("%Y-%m-%d"),
                "Open": closes,
                "High": closes * 1.005,
                "Low": closes * 0.995,
                "Close": closes,
                "Volume": 1_000_000,
            }
        )
        frame.to_csv(folder / f"{symbol}.csv", index=False)
    return folder


def path_from_returns(returns: np.ndarray, start: float = 100.0) -> np.ndarray:
    return start * np.cumprod(1.0 + returns)


def universe(
    make: Callable[[np.random.Generator], np.ndarray], members: int = 4, seed: int = 7
) -> dict[str, np.ndarray]:
    """SPY and `members` stocks, each from `make(rng)` daily returns."""
    rng = np.random.default_rng(seed)
    names = ["SPY"] + [f"S{i}" for i in range(members)]
    return {name: path_from_returns(make(rng)) for name in names}
