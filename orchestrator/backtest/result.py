"""What a backtest is asked to do (`BacktestConfig`) and what it produced (`BacktestResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, Field, model_validator

from orchestrator.backtest.metrics import CurveMetrics, Trade, TradeMetrics
from orchestrator.cycle_record import CycleRecord

Engine = Literal["offline", "llm"]
Provider = Literal["offline", "csv", "yfinance", "alpaca"]


class BacktestConfig(BaseModel):
    """One backtest. `adaptive=None` keeps the ADAPTIVE_WEIGHTS setting."""

    start: date
    end: date
    tickers: list[str] = Field(min_length=1)
    cash: float = Field(100_000.0, gt=0)
    rebalance: Literal["daily", "weekly"] = "daily"
    engine: Engine = "offline"
    provider: Provider = "offline"
    data_dir: Path | None = None
    adaptive: bool | None = None
    out_dir: Path | None = None  # default VAR_DIR/backtests/<id>
    training_cutoff: date | None = None  # overrides the table of known model cut-offs

    @model_validator(mode="after")
    def _check(self) -> BacktestConfig:
        if self.end <= self.start:
            raise ValueError(f"--end {self.end} must be after --start {self.start}")
        if self.provider == "csv" and self.data_dir is None:
            raise ValueError("the csv provider needs --data-dir")
        self.tickers = list(dict.fromkeys(t.strip().upper() for t in self.tickers if t.strip()))
        return self


class BenchmarkResult(BaseModel):
    name: str
    note: str = ""
    metrics: CurveMetrics | None = None  # None when the benchmark is unavailable


class LLMSummary(BaseModel):
    engine: str
    calls: int = 0  # answered by the model
    replay_hits: int = 0  # answered from the replay cache (no tokens spent)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class BacktestResult(BaseModel):
    """Everything `metrics.json` holds (and the database row's `metrics`)."""

    id: str
    start: date
    end: date
    first_session: date
    last_session: date
    sessions: int
    rebalance_sessions: int
    rebalance: str
    engine: str
    adaptive: bool
    data: str
    tickers: list[str]
    starting_cash: float
    slippage_bps: float
    commission_per_order: float
    strategy: CurveMetrics
    trading: TradeMetrics
    benchmarks: list[BenchmarkResult]
    llm: LLMSummary
    cycles: dict[str, int]  # status -> count
    regimes: dict[str, int] = Field(default_factory=dict)  # market regime label -> cycles
    orders: dict[str, int]  # status -> count
    seconds: float
    sessions_per_second: float
    warnings: list[str] = Field(default_factory=list)
    out_dir: str = ""

    def headline(self) -> dict[str, Any]:
        """The few numbers a person reads first."""
        return {
            "total_return": self.strategy.total_return,
            "sharpe": self.strategy.sharpe,
            "max_drawdown": self.strategy.max_drawdown,
            "trades": self.trading.trades,
        }


@dataclass
class BacktestRun:
    """A finished run: the result plus the series and records the report and tests use."""

    result: BacktestResult
    equity: pd.DataFrame  # index: session date; columns equity, cash, gross_exposure
    benchmark_levels: dict[str, pd.Series] = field(default_factory=dict)
    trades: list[Trade] = field(default_factory=list)
    records: list[CycleRecord] = field(default_factory=list)
