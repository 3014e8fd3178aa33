"""Fixtures for the analysis tests: a small synthetic price folder read by the real csv provider,
and the fake OpenAI server (real SDK)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.fakes.openai_server import (  # noqa: F401
    FakeOpenAI,
    close_openai_clients,
    fake_openai,
    fake_openai_factory,
)

SESSIONS = pd.bdate_range("2014-01-02", periods=520)


def write_prices(
    folder: Path,
    closes: dict[str, np.ndarray],
    volumes: dict[str, np.ndarray] | None = None,
    sessions: pd.DatetimeIndex = SESSIONS,
) -> Path:
    """One yfinance-layout CSV per ticker (already adjusted, read as is)."""
    folder.mkdir(parents=True, exist_ok=True)
    for symbol, close in closes.items():
        n = len(close)
        volume = volumes[symbol] if volumes and symbol in volumes else np.full(n, 2_000_000.0)
        pd.DataFrame(
            {
                "Date": sessions[:n].strftime("%Y-%m-%d"),
                "Open": close,
                "High": close * 1.01,
                "Low": close * 0.99,
                "Close": close,
                "Volume": volume,
            }
        ).to_csv(folder / f"{symbol}.csv", index=False)
    return folder


def random_walks(
    n_tickers: int, n_sessions: int = len(SESSIONS), seed: int = 7
) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for k in range(n_tickers):
        steps = rng.normal(0.0004, 0.015, n_sessions)
        out[f"T{k:02d}"] = 50.0 * np.exp(np.cumsum(steps))
    return out


@pytest.fixture
def price_folder(tmp_path: Path) -> Callable[..., Path]:
    def make(closes: dict[str, np.ndarray], **options: object) -> Path:
        return write_prices(tmp_path / "prices", closes, **options)  # type: ignore[arg-type]

    return make


__all__ = ["FakeOpenAI"]
