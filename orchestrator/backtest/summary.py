"""Turn a finished replay (daily equity, the run's database, the cycle records) into a
`BacktestRun`: metrics, benchmarks, trades with their reasons, LLM usage and warnings."""

from __future__ import annotations

from collections import Counter
from datetime import UTC
from pathlib import Path

import pandas as pd
from sqlalchemy.engine import Engine

from orchestrator.backtest.benchmarks import (
    BenchmarkCurve,
    buy_and_hold_equal_weight,
    buy_and_hold_symbol,
)
from orchestrator.backtest.cutoff import cutoff_warnings
from orchestrator.backtest.metrics import Trade, curve_metrics, trade_metrics
from orchestrator.backtest.result import (
    BacktestConfig,
    BacktestResult,
    BacktestRun,
    BenchmarkResult,
    LLMSummary,
)
from orchestrator.config import LLM_TASKS, Settings
from orchestrator.cycle_record import CycleRecord
from orchestrator.data.base import MarketData
from orchestrator.domain import EXCHANGE_TZ, session_close
from orchestrator.store import backtest as store
from orchestrator.store.db import session_scope


def summarise(
    *,
    backtest_id: str,
    config: BacktestConfig,
    settings: Settings,
    market_data: MarketData,
    engine: Engine,
    equity: pd.DataFrame,
    records: list[CycleRecord],
    rebalance_count: int,
    seconds: float,
    out_dir: Path,
    llm_after_id: int = 0,
    data_label: str = "",
) -> BacktestRun:
    sessions = pd.DatetimeIndex(equity.index)
    as_of = session_close(sessions[-1].date()).astimezone(UTC)
    with session_scope(engine) as session:
        fills = store.fills_with_orders(session)
        orders = store.order_counts(session)
        usage = store.llm_usage(session, after_id=llm_after_id)
    trades = _trades(fills, records)
    curves = [
        buy_and_hold_symbol(market_data, sessions, as_of=as_of),
        buy_and_hold_equal_weight(market_data, config.tickers, sessions, as_of=as_of),
    ]
    cycles = Counter(record.status for record in records)
    result = BacktestResult(
        id=backtest_id,
        start=config.start,
        end=config.end,
        first_session=sessions[0].date(),
        last_session=sessions[-1].date(),
        sessions=len(sessions),
        rebalance_sessions=rebalance_count,
        rebalance=config.rebalance,
        engine=records[0].engine if records else config.engine,
        adaptive=settings.adaptive_weights,
        data=data_label or str(getattr(market_data, "name", config.provider)),
        tickers=config.tickers,
        starting_cash=config.cash,
        slippage_bps=settings.sim_slippage_bps,
        commission_per_order=settings.sim_commission_per_order,
        strategy=curve_metrics(equity["equity"]),
        trading=trade_metrics(trades, equity["equity"], equity["gross_exposure"]),
        benchmarks=[_benchmark(curve) for curve in curves],
        llm=LLMSummary(
            engine=config.engine,
            calls=usage.calls,
            replay_hits=usage.cached,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cost_usd=round(usage.cost_usd, 6),
        ),
        cycles=dict(cycles),
        regimes=dict(Counter(r.regime for r in records if r.regime)),
        orders=orders,
        seconds=round(seconds, 3),
        sessions_per_second=round(len(sessions) / seconds, 3) if seconds > 0 else 0.0,
        warnings=_warnings(config, settings, records, orders),
        out_dir=str(out_dir),
    )
    return BacktestRun(
        result=result,
        equity=equity,
        benchmark_levels={c.name: c.levels for c in curves if c.levels is not None},
        trades=trades,
        records=records,
    )


def _benchmark(curve: BenchmarkCurve) -> BenchmarkResult:
    metrics = curve_metrics(curve.levels) if curve.levels is not None else None
    return BenchmarkResult(name=curve.name, note=curve.note, metrics=metrics)


def _trades(fills: list[store.FillWithOrder], records: list[CycleRecord]) -> list[Trade]:
    """Fills with the rationale of the proposal that led to them."""
    reasons: dict[tuple[int, str, str], str] = {}
    for record in records:
        for proposal in record.proposals:
            key = (record.cycle_id, proposal.symbol, proposal.side)
            reasons.setdefault(key, proposal.rationale)
    return [
        Trade(
            date=fill.timestamp.astimezone(EXCHANGE_TZ).date().isoformat(),
            symbol=fill.symbol,
            side=fill.side,
            quantity=fill.quantity,
            price=round(fill.price, 4),
            fee=round(fill.fee, 4),
            reason=reasons.get((fill.cycle_id or -1, fill.symbol, fill.side), ""),
        )
        for fill in fills
    ]


def _warnings(
    config: BacktestConfig,
    settings: Settings,
    records: list[CycleRecord],
    orders: dict[str, int],
) -> list[str]:
    warnings: list[str] = []
    if config.engine == "llm":
        models = {settings.model_for(task) for task in LLM_TASKS}
        warnings += cutoff_warnings(
            models, config.start, config.end, override=config.training_cutoff
        )
    failed = [r for r in records if r.status != "completed"]
    if failed:
        first = failed[0]
        warnings.append(
            f"{len(failed)} cycle(s) did not complete (first {first.as_of.date()}: "
            f"{first.status}, {first.error or 'no error text'})"
        )
    pending = orders.get("submitted", 0) + orders.get("new", 0)
    if pending:
        warnings.append(
            f"{pending} order(s) placed at the last session(s) had no later open to fill at"
        )
    warnings.append(
        "Retrieval (RAG) is off in backtests: the knowledge base is not yet point-in-time."
    )
    return warnings
