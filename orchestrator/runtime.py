"""The parts one process runs with, built once from settings.

`run_cycle` receives a `Runtime`; the live service, paper trading, the demo and the backtest differ
only in the clock, the data provider and the broker they put in it.
"""

from __future__ import annotations

import asyncio
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from orchestrator.clock import Clock, SystemClock
from orchestrator.config import Settings
from orchestrator.data import build_market_data
from orchestrator.data.base import MarketData
from orchestrator.events import EventBus, build_event_bus
from orchestrator.llm import LLMClient, build_llm
from orchestrator.shared_reads import SharedReads
from orchestrator.store.db import get_engine
from orchestrator.trading import build_broker
from orchestrator.trading.broker import Broker


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    clock: Clock
    market_data: MarketData
    llm: LLMClient
    broker: Broker
    bus: EventBus
    knowledge: Any = None  # the RAG knowledge base, when it could be opened
    work_queue: Any = None  # per-ticker analysis queue (Redis Streams) when ANALYSIS_WORKERS
    forecaster: Any = None  # the quantitative forecaster, created on first use
    notes: list[str] = field(default_factory=list)  # what was degraded at start, said plainly
    reads: SharedReads = field(default_factory=SharedReads)  # the views' reads, one per burst

    async def close(self) -> None:
        if self.broker is not None:
            await self.broker.close()
        close_bus = getattr(self.bus, "close", None)
        if close_bus is not None:
            await close_bus()
        if self.work_queue is not None:
            await self.work_queue.close()
        close_llm = getattr(self.llm, "close", None)
        if close_llm is not None:
            await close_llm()
        if self.knowledge is not None and hasattr(self.knowledge, "close"):
            self.knowledge.close()


async def build_runtime(
    settings: Settings,
    *,
    clock: Clock | None = None,
    market_data: MarketData | None = None,
    engine: Engine | None = None,
    bus: EventBus | None = None,
    with_knowledge: bool = True,
    with_broker: bool = True,
) -> Runtime:
    """Open the database (migrating it), the data provider, the LLM client, the event bus and the
    broker (reconciled with the database). Raises `ConfigError` for settings that cannot work."""
    _widen_thread_pool(settings)
    engine = engine or get_engine(settings)
    clock = clock or SystemClock()
    market_data = market_data or build_market_data(settings, engine, clock=clock)
    bus = bus or build_event_bus(settings)
    llm = build_llm(settings, engine)
    # Analysis workers never trade: they need no broker (and must not reconcile one).
    broker: Any = None
    if with_broker:
        broker = build_broker(settings, engine, market_data, bus=bus, clock=clock)
        await broker.start()
    runtime = Runtime(settings, engine, clock, market_data, llm, broker, bus)
    if settings.analysis_workers and settings.redis_url:
        from orchestrator.workqueue import build_work_queue

        runtime.work_queue = build_work_queue(settings)
    if with_knowledge:
        runtime.knowledge = _open_knowledge(settings, engine, runtime.notes)
    return runtime


def _open_knowledge(settings: Settings, engine: Engine, notes: list[str]) -> Any:
    """The knowledge base, or None with a note when it cannot be opened (the cycle goes on
    without retrieved context rather than not at all)."""
    from orchestrator.analysis.rag import build_knowledge_base

    offline_embedding = settings.embed_provider == "openai" or settings.embed_model_path
    if settings.data_provider == "offline" and not offline_embedding:
        # The offline demo promises no network; fastembed would download its model by name.
        notes.append("knowledge base off offline: set EMBED_MODEL_PATH to a local model to use it")
        return None
    try:
        return build_knowledge_base(settings, engine)
    except Exception as exc:  # a missing embedding model must not stop trading
        notes.append(f"knowledge base unavailable: {exc}")
        return None


_WIDENED: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


def _widen_thread_pool(settings: Settings) -> None:
    """Blocking work (SQLite, pandas, SDK calls) runs in the loop's default thread pool, which
    Python sizes at cores + 4: with MAX_CONCURRENCY tickers each waiting on a few such calls, a
    cycle of 50 candidates queued behind 6 threads. The threads mostly wait on I/O, so a pool
    of a few per ticker in flight costs little memory and no CPU."""
    loop = asyncio.get_running_loop()
    if loop in _WIDENED:
        return
    workers = max(32, 4 * settings.max_concurrency)
    loop.set_default_executor(ThreadPoolExecutor(workers, thread_name_prefix="fingpt"))
    _WIDENED.add(loop)
