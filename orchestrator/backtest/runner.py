"""`run_backtest`: the live `run_cycle` replayed over history, point-in-time.

For each session of the data between start and end, the `FixedClock` moves to that session's
close (when its daily bar becomes known) and, on rebalance sessions, `run_cycle(runtime, as_of,
mode="backtest")` runs exactly as it does live. Orders it places wait in the `SimBroker` for the
next session's open (with slippage and commission from settings). On the other sessions the
broker is only brought up to date and the portfolio valued, so the equity curve is daily. After
every session the live post-close job runs too (`feedback.evaluate_and_reflect`: outcomes,
lessons, self-tuning weights), so `--adaptive on` learns in the replay as it would live.

What makes it honest:
- one cycle function: no second harness, the backtest exercises what trades live;
- the provider answers only what was known at `as_of` (bars of closed sessions, news published
  by then: news after the close reaches the next session's cycle);
- approvals are automatic but every order still passes the risk manager;
- a fresh SQLite database per run (in the output folder) holds the cycles, orders, fills and
  LLM calls, so nothing of the live ledger leaks in or out.
Failure contract: bad arguments raise `ConfigError`/`DataError` before anything runs; a cycle
that fails stops the run with `BacktestFailed` naming the session (the row is marked failed).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine
from threadpoolctl import threadpool_limits

from orchestrator.backtest.result import BacktestConfig, BacktestRun
from orchestrator.backtest.sessions import rebalance_days, trading_sessions
from orchestrator.backtest.summary import summarise
from orchestrator.clock import FixedClock
from orchestrator.config import Settings
from orchestrator.cycle_record import CycleRecord
from orchestrator.data.base import MarketData
from orchestrator.domain import session_close
from orchestrator.errors import ConfigError, FinGPTError, UserFacingError
from orchestrator.events import InProcessBus
from orchestrator.store import backtest as store
from orchestrator.store.db import create_db_engine, get_engine, session_scope, upgrade_database

log = logging.getLogger(__name__)

# Called after every session: (sessions done, sessions in total, the session's date).
Progress = Callable[[int, int, date], None]
DB_NAME = "backtest.db"


class BacktestFailed(FinGPTError):
    """A cycle raised during the replay; the message names the session."""


def backtest_settings(base: Settings, config: BacktestConfig, out_dir: Path) -> Settings:
    """The settings one backtest runs with: the user's, with what a replay must fix."""
    if config.engine == "llm" and not base.llm_enabled:
        raise ConfigError("--engine llm needs OPENAI_API_KEY or OPENAI_BASE_URL to be set")
    overrides: dict[str, Any] = {
        "database_url": f"sqlite:///{out_dir / DB_NAME}",
        # Models trained during the replay (the quant forecaster's files) belong to this run's
        # data: another run on other (truncated, planted) data must never load them.
        "var_dir": out_dir / "var",
        "redis_url": None,  # events stay in the process; a backtest must not page anyone
        "broker": "sim",
        "trading_mode": "paper",
        "approval_policy": "auto",
        # The cycle runs at the close, when the day's bar is known; its market orders wait for
        # the next open, as a "market on open" order would.
        "trading_hours_only": False,
        "sim_starting_cash": config.cash,
        "universe": config.tickers,
        "data_provider": config.provider,
        "data_dir": config.data_dir,
        "metrics_port": 0,
    }
    if config.adaptive is not None:
        overrides["adaptive_weights"] = config.adaptive
    if config.engine == "offline":
        overrides.update(openai_api_key=None, openai_base_url=None)
    return base.model_copy(update=overrides)


def _fresh_database(out_dir: Path) -> Engine:
    out_dir.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        (out_dir / f"{DB_NAME}{suffix}").unlink(missing_ok=True)
    engine = create_db_engine(f"sqlite:///{out_dir / DB_NAME}")
    upgrade_database(engine)
    return engine


def _market_data(settings: Settings, engine: Engine, clock: FixedClock) -> MarketData:
    from orchestrator.data import build_market_data

    return build_market_data(settings, engine, clock=clock)


async def run_backtest(
    config: BacktestConfig,
    base: Settings,
    *,
    progress: Progress | None = None,
    market_data: MarketData | None = None,
    backtest_id: str | None = None,
) -> BacktestRun:
    """Replay `run_cycle` over the configured period and return the finished run (see the module
    docstring). `market_data` replaces the provider the config names (tests plant data here)."""
    backtest_id = backtest_id or uuid.uuid4().hex[:12]
    out_dir = config.out_dir or base.var_dir / "backtests" / backtest_id
    settings = backtest_settings(base, config, out_dir)
    # Imported here: the cycle pulls in the whole pipeline, which option errors need not wait for.
    from orchestrator.cycle import run_cycle
    from orchestrator.runtime import build_runtime

    engine = _fresh_database(out_dir)
    clock = FixedClock(session_close(config.start).astimezone(UTC))
    data = market_data or _market_data(settings, engine, clock)
    sessions = trading_sessions(data, config.tickers, config.start, config.end)
    rebalance = rebalance_days(sessions, config.rebalance)
    ledger = get_engine(base)
    row = store.BacktestRow(
        id=backtest_id,
        start=config.start,
        end=config.end,
        rebalance=config.rebalance,
        engine=config.engine,
        adaptive=settings.adaptive_weights,
        data=_describe_data(config, data),
        starting_cash=config.cash,
        tickers=config.tickers,
        out_dir=str(out_dir),
    )
    _save(ledger, row)
    seeded = _seed_replay_cache(ledger, engine, settings, config)

    runtime = await build_runtime(
        settings,
        clock=clock,
        market_data=data,
        engine=engine,
        bus=InProcessBus(),
        with_knowledge=False,
    )
    started = time.perf_counter()
    points: list[dict[str, float]] = []
    records: list[CycleRecord] = []
    post_close_failures: list[str] = []
    # One native thread per model call: the cycle already analyses tickers in parallel, and
    # OpenMP pools (scikit-learn's trees) oversubscribing 2 cores made a backtest ~4x slower.
    limits = threadpool_limits(limits=1)
    try:
        for done, stamp in enumerate(sessions, start=1):
            day = stamp.date()
            as_of = session_close(day).astimezone(UTC)
            clock.advance_to(as_of)
            if day in rebalance:
                slot = f"backtest:{backtest_id}:{day.isoformat()}"
                try:
                    record = await run_cycle(runtime, as_of, slot=slot, mode="backtest")
                except UserFacingError:
                    raise
                except Exception as exc:
                    raise BacktestFailed(
                        f"backtest {backtest_id} stopped at {day.isoformat()}: the cycle failed "
                        f"({type(exc).__name__}: {exc})"
                    ) from exc
                records.append(record)
            else:
                await runtime.broker.sync(as_of)
            await _post_close(runtime, as_of, day, post_close_failures)
            snapshot = await runtime.broker.snapshot()
            points.append(
                {
                    "equity": snapshot.equity,
                    "cash": snapshot.cash,
                    "gross_exposure": snapshot.gross_exposure,
                }
            )
            if progress is not None:
                progress(done, len(sessions), day)
    except BaseException as exc:
        row.status, row.error = "failed", f"{type(exc).__name__}: {exc}"
        row.finished_at = datetime.now(UTC)
        _save(ledger, row)
        raise
    finally:
        limits.restore_original_limits()
        await runtime.close()
    seconds = time.perf_counter() - started
    equity = pd.DataFrame(points, index=pd.DatetimeIndex(sessions[: len(points)], name="date"))
    run = summarise(
        backtest_id=backtest_id,
        config=config,
        settings=settings,
        market_data=data,
        engine=engine,
        equity=equity,
        records=records,
        rebalance_count=len(rebalance),
        seconds=seconds,
        out_dir=out_dir,
        llm_after_id=seeded,
        data_label=row.data,
    )
    if post_close_failures:
        run.result.warnings.insert(
            0,
            f"the post-close evaluation failed on {len(post_close_failures)} session(s) "
            f"(first: {post_close_failures[0]}); adaptive weights and lessons missed those days",
        )
    _keep_answers(engine, ledger, settings, config, after_id=seeded)
    row.status, row.finished_at = "completed", datetime.now(UTC)
    row.sessions, row.seconds = len(points), round(seconds, 3)
    row.metrics = run.result.model_dump(mode="json")
    _save(ledger, row)
    engine.dispose()
    return run


async def _post_close(runtime: Any, as_of: datetime, day: date, failures: list[str]) -> None:
    """The live post-close job, replayed: score decisions whose horizon ended, write lessons,
    re-tune the signal weights. A failure is counted and reported, not fatal (as live)."""
    from orchestrator.feedback import evaluate_and_reflect

    try:
        await evaluate_and_reflect(runtime, as_of)
    except Exception as exc:
        log.warning("post-close evaluation failed at %s", day, exc_info=True)
        failures.append(f"{day.isoformat()}: {type(exc).__name__}: {exc}")


def _seed_replay_cache(
    ledger: Engine, engine: Engine, settings: Settings, config: BacktestConfig
) -> int:
    """With LLM_CACHE=replay, copy the ledger's stored answers into the run's fresh database so
    a repeated backtest is answered from them (0 tokens). Returns the highest seeded id."""
    if config.engine != "llm" or settings.llm_cache != "replay":
        return 0
    with session_scope(ledger) as source:
        rows = store.llm_answers(source)
    with session_scope(engine) as target:
        return store.copy_llm_answers(rows, target)


def _keep_answers(
    engine: Engine, ledger: Engine, settings: Settings, config: BacktestConfig, *, after_id: int
) -> None:
    """Copy the run's new model answers into the ledger, where the next run's replay finds them."""
    if config.engine != "llm" or settings.llm_cache == "off":
        return
    with session_scope(engine) as source:
        rows = store.llm_answers(source, after_id=after_id)
    if rows:
        with session_scope(ledger) as target:
            store.copy_llm_answers(rows, target)


def _save(ledger: Engine, row: store.BacktestRow) -> None:
    with session_scope(ledger) as session:
        store.save_backtest(session, row.model_copy())


def _describe_data(config: BacktestConfig, data: MarketData) -> str:
    name = getattr(data, "name", config.provider)
    folder = getattr(data, "folder", None) or config.data_dir
    return f"{name} ({folder})" if folder else str(name)
