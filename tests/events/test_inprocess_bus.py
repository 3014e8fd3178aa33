from __future__ import annotations

import asyncio
import io
import json
import logging

from orchestrator.events import Event, InProcessBus
from orchestrator.monitoring import configure_logging


async def test_every_matching_subscriber_gets_the_event_and_a_failure_stops_none() -> None:
    bus = InProcessBus()
    seen: list[tuple[str, str]] = []

    async def broken(event: Event) -> None:
        raise RuntimeError("subscriber bug")

    async def orders(event: Event) -> None:
        seen.append(("orders", event.type))

    async def everything(event: Event) -> None:
        seen.append(("all", event.type))

    bus.subscribe("*", broken)
    bus.subscribe(("order.filled", "order.rejected"), orders)
    bus.subscribe("*", everything)
    await bus.start()
    await bus.publish(Event(type="order.filled"))
    await bus.publish(Event(type="cycle.started"))
    await bus.close()

    assert sorted(seen) == [
        ("all", "cycle.started"),
        ("all", "order.filled"),
        ("orders", "order.filled"),
    ]


async def test_a_cycle_logs_with_its_id_once_it_announced_itself() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    configure_logging("INFO", json=True, stream=stream)
    bus = InProcessBus()
    cycle_log = logging.getLogger("orchestrator.cycle")

    async def cycle(cycle_id: int) -> None:
        cycle_log.info("claiming the slot")  # before cycle.started: no id yet
        await bus.publish(Event(type="cycle.started", cycle_id=cycle_id))
        cycle_log.info("selecting")
        await asyncio.gather(asyncio.to_thread(cycle_log.info, "in a thread"), asyncio.sleep(0))

    try:
        # Two cycles at once (say a scheduled one and one from the bot): each keeps its own id.
        await asyncio.gather(cycle(7), cycle(8))
        cycle_log.info("outside any cycle")
    finally:
        for handler in list(root.handlers):
            if handler.get_name() == "fingpt":
                root.removeHandler(handler)
        root.setLevel(level)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    ids = {(line["event"], line.get("cycle_id")) for line in lines}
    assert ("claiming the slot", None) in ids
    assert {("selecting", 7), ("selecting", 8), ("in a thread", 7), ("in a thread", 8)} <= ids
    assert ("outside any cycle", None) in ids
