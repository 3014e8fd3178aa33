"""A trading `Runtime` on a real database, a `SimBroker` and in-test prices (no LLM needed)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from orchestrator.clock import FixedClock
from orchestrator.config import load_settings
from orchestrator.cycle_record import CandidateRecord, CycleRecord
from orchestrator.domain import EXCHANGE_TZ
from orchestrator.events import Event, InProcessBus
from orchestrator.runtime import Runtime
from orchestrator.store.cycles import claim_slot
from orchestrator.store.db import session_scope
from orchestrator.trading import build_broker
from orchestrator.trading.proposals import DecisionOutput
from tests.trading.market import FrameMarketData, bars


def ny(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2015, 3, day, hour, minute, tzinfo=EXCHANGE_TZ)


# Prices known on 2-3 March 2015: AAPL near 100, MSFT near 40; AAPL doubles on 4 March.
DATA = FrameMarketData(
    {
        "AAPL": bars(
            {
                "2015-02-27": (99.0, 101.0, 98.0, 100.0),
                "2015-03-02": (100.0, 101.0, 99.0, 100.0),
                "2015-03-03": (101.0, 102.0, 100.0, 101.0),
                "2015-03-04": (199.0, 201.0, 198.0, 200.0),
                "2015-03-05": (200.0, 201.0, 199.0, 200.0),
            }
        ),
        "MSFT": bars(
            {
                "2015-02-27": (40.0, 41.0, 39.0, 40.0),
                "2015-03-02": (40.0, 41.0, 39.0, 40.0),
                "2015-03-03": (40.0, 41.0, 39.0, 40.0),
                "2015-03-04": (40.0, 41.0, 39.0, 40.0),
                "2015-03-05": (40.0, 41.0, 39.0, 40.0),
            }
        ),
    }
)


class Recorder:
    def __init__(self, bus: InProcessBus) -> None:
        self.events: list[Event] = []
        bus.subscribe("*", self._record)

    async def _record(self, event: Event) -> None:
        self.events.append(event)

    def of(self, event_type: str) -> list[dict[str, Any]]:
        return [e.payload for e in self.events if e.type == event_type]


async def make_runtime(
    engine: Engine, clock: FixedClock, *, bus: InProcessBus | None = None, **settings: Any
) -> Runtime:
    values: dict[str, Any] = {
        "universe": "AAPL,MSFT,XOM",
        "approval_policy": "auto",
        "sim_starting_cash": 100_000.0,
        "max_order_notional": 5_000.0,
        "max_position_pct": 10.0,
    }
    values.update(settings)
    config = load_settings(**values)
    bus = bus or InProcessBus()
    broker = build_broker(config, engine, DATA, bus=bus, clock=clock)
    await broker.start()
    return Runtime(config, engine, clock, DATA, None, broker, bus)  # type: ignore[arg-type]


def cycle(
    engine: Engine, as_of: datetime, candidates: tuple[str, ...] = ("AAPL",), regime: str = ""
) -> CycleRecord:
    with session_scope(engine) as session:
        slot = f"test:{uuid.uuid4().hex[:8]}"
        cycle_id = claim_slot(session, slot=slot, mode="paper", as_of=as_of)
    return CycleRecord(
        cycle_id=cycle_id,
        slot="test",
        mode="paper",
        as_of=as_of,
        candidates=[CandidateRecord(symbol=s) for s in candidates],
        regime=regime,
    )


def decision(*items: dict[str, Any]) -> DecisionOutput:
    return DecisionOutput.model_validate({"proposals": list(items)})


def buy(symbol: str = "AAPL", **extra: Any) -> dict[str, Any]:
    size = {} if "target_weight" in extra else {"quantity": 10}
    return {"symbol": symbol, "side": "buy", "confidence": 0.7, **size, **extra}
