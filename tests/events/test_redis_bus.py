"""The Redis Streams bus against a real Redis: delivery, fan-out, re-delivery, poison messages."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from orchestrator.events import Event
from orchestrator.redis_bus import RedisStreamBus
from tests.events.helpers import eventually

# Short enough to keep the tests fast, long enough that a live handler is never taken over.
IDLE_MS = 200


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
async def stream(redis: Redis) -> AsyncIterator[str]:
    name = f"test:events:{uuid.uuid4().hex}"
    yield name
    await redis.delete(name)


def make_bus(redis_url: str, stream: str, **options: object) -> RedisStreamBus:
    return RedisStreamBus.from_url(
        redis_url, stream=stream, claim_min_idle_ms=IDLE_MS, block_ms=100, **options
    )


async def test_published_events_reach_each_group_filtered_by_type(
    redis_url: str, redis: Redis, stream: str
) -> None:
    bus = make_bus(redis_url, stream)
    orders: list[Event] = []
    everything: list[Event] = []

    async def on_order(event: Event) -> None:
        orders.append(event)

    async def on_any(event: Event) -> None:
        everything.append(event)

    bus.subscribe(("order.filled",), on_order, group="orders")
    bus.subscribe("*", on_any, group="all")
    await bus.start()
    try:
        sent = Event(type="order.filled", payload={"symbol": "AAPL"}, cycle_id=3)
        await bus.publish(Event(type="cycle.started"))
        await bus.publish(sent)
        await eventually(lambda: len(everything) == 2 and len(orders) == 1)
    finally:
        await bus.close()

    assert orders == [sent]
    assert [event.type for event in everything] == ["cycle.started", "order.filled"]
    # Everything was acknowledged: nothing waits in either group's pending list.
    for group in ("orders", "all"):
        assert (await redis.xpending(stream, group))["pending"] == 0


async def test_an_event_read_by_a_consumer_that_died_is_redelivered_to_another(
    redis_url: str, redis: Redis, stream: str
) -> None:
    # The first consumer reads the event and dies before acknowledging it.
    await redis.xgroup_create(stream, "alerts", id="$", mkstream=True)
    publisher = make_bus(redis_url, stream)
    event = Event(type="alert", payload={"title": "daily loss limit hit"})
    await publisher.publish(event)
    taken = await redis.xreadgroup("alerts", "crashed-worker", {stream: ">"}, count=1)
    assert taken and taken[0][1][0][1]["type"] == "alert"

    received: list[Event] = []

    async def on_alert(event: Event) -> None:
        received.append(event)

    survivor = make_bus(redis_url, stream)
    survivor.subscribe("alert", on_alert, group="alerts")
    await survivor.start()
    try:
        await eventually(lambda: bool(received))
    finally:
        await survivor.close()
        await publisher.close()

    assert received == [event]
    assert (await redis.xpending(stream, "alerts"))["pending"] == 0


async def test_a_failing_handler_gets_the_event_again_and_a_poison_event_is_dropped(
    redis_url: str, redis: Redis, stream: str
) -> None:
    bus = make_bus(redis_url, stream, max_deliveries=2)
    attempts: dict[str, int] = {}

    async def flaky(event: Event) -> None:
        attempts[event.type] = attempts.get(event.type, 0) + 1
        # "alert" fails once then works; "cycle.failed" always fails (a poison message).
        if event.type == "cycle.failed" or attempts[event.type] == 1:
            raise RuntimeError("handler bug")

    bus.subscribe("*", flaky, group="flaky")
    await bus.start()
    try:
        await bus.publish(Event(type="alert"))
        await bus.publish(Event(type="cycle.failed"))
        await eventually(
            lambda: attempts.get("alert") == 2 and attempts.get("cycle.failed", 0) >= 2
        )

        # The poison event is acknowledged after its last allowed delivery, not retried forever.
        async def settled() -> bool:
            return (await redis.xpending(stream, "flaky"))["pending"] == 0

        await eventually(settled)
    finally:
        await bus.close()

    assert attempts == {"alert": 2, "cycle.failed": 2}


async def test_stream_length_is_bounded(redis_url: str, redis: Redis, stream: str) -> None:
    bus = make_bus(redis_url, stream, maxlen=50)
    try:
        for index in range(500):
            await bus.publish(Event(type="alert", payload={"n": index}))
    finally:
        await bus.close()
    # MAXLEN ~ trims whole radix-tree nodes (100 entries by default), so "about" 50.
    assert await redis.xlen(stream) < 250
