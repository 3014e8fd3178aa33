from __future__ import annotations

from orchestrator.events import Event, InProcessBus


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
