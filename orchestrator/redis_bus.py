"""`RedisStreamBus`: the event bus on Redis Streams, for several processes (app, workers, bot).

Layout: ONE stream (default `fingpt:events`) carries every event type, so events keep their
global order and one MAXLEN bounds the memory used. Each subscriber is a consumer group (named
by `group=` or after the handler's module and name), so every subscriber gets every event and
several processes running the same subscriber share its work. A group reads all types and
acknowledges the ones it does not want at once.

Delivery is at least once: a handler's message is acknowledged after it returns; one that raised
or whose process died is delivered again after `claim_min_idle_ms` (see `orchestrator.streams`).
A group created for the first time starts at the stream's end; after that it resumes where it
stopped, so events published while a subscriber was down reach it when it comes back.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pydantic import ValidationError
from redis.asyncio import Redis

from orchestrator.events import Event, Handler, bind_cycle_log_context
from orchestrator.streams import (
    DEFAULT_BLOCK_MS,
    DEFAULT_CLAIM_MIN_IDLE_MS,
    DEFAULT_MAX_DELIVERIES,
    Fields,
    StreamConsumer,
    consumer_name,
    ensure_group,
)

log = logging.getLogger(__name__)

DEFAULT_STREAM = "fingpt:events"
# ~100k events is weeks of cycles at 30-minute intervals and ~50 MB of Redis memory at most;
# the database, not the stream, is the record.
DEFAULT_MAXLEN = 100_000


class RedisStreamBus:
    """Publish to and consume from one Redis stream; same interface as `InProcessBus`."""

    def __init__(
        self,
        redis: Redis,
        *,
        stream: str = DEFAULT_STREAM,
        maxlen: int = DEFAULT_MAXLEN,
        claim_min_idle_ms: int = DEFAULT_CLAIM_MIN_IDLE_MS,
        max_deliveries: int = DEFAULT_MAX_DELIVERIES,
        block_ms: int = DEFAULT_BLOCK_MS,
        consumer: str | None = None,
        owns_client: bool = False,
    ) -> None:
        self.redis = redis
        self.stream = stream
        self.maxlen = maxlen
        self.consumer = consumer or consumer_name("bus-")
        self._claim_min_idle_ms = claim_min_idle_ms
        self._max_deliveries = max_deliveries
        self._block_ms = block_ms
        self._owns_client = owns_client
        self._consumers: list[StreamConsumer] = []
        self._runners: dict[StreamConsumer, asyncio.Task[None]] = {}
        self._started = False

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisStreamBus:
        """A bus with its own client for `url`; `close()` closes that client too."""
        client = Redis.from_url(url, decode_responses=True)
        return cls(client, owns_client=True, **options)

    async def publish(self, event: Event) -> None:
        """Append the event (XADD, MAXLEN ~). Raises redis errors when Redis is unreachable."""
        bind_cycle_log_context(event)
        await self.redis.xadd(
            self.stream,
            {"type": event.type, "data": event.model_dump_json()},
            maxlen=self.maxlen,
            approximate=True,
        )

    def subscribe(
        self, types: tuple[str, ...] | str, handler: Handler, *, group: str | None = None
    ) -> None:
        """Deliver events of `types` ("*" for all) to `handler` as consumer group `group`."""
        wanted = (types,) if isinstance(types, str) else tuple(types)
        group_name = group or _group_name(handler)
        if any(existing.group == group_name for existing in self._consumers):
            raise ValueError(f"consumer group {group_name!r} is already subscribed on this bus")

        async def on_message(_message_id: str, fields: Fields) -> None:
            if "*" not in wanted and fields.get("type") not in wanted:
                return  # acknowledged without work: this subscriber does not want this type
            try:
                event = Event.model_validate_json(fields["data"])
            except (KeyError, ValidationError):
                log.error("stream %s: dropping a malformed event %r", self.stream, fields)
                return
            await handler(event)

        consumer = StreamConsumer(
            self.redis,
            stream=self.stream,
            group=group_name,
            handler=on_message,
            consumer=self.consumer,
            block_ms=self._block_ms,
            claim_min_idle_ms=self._claim_min_idle_ms,
            max_deliveries=self._max_deliveries,
            on_dead_letter=self._dead_letter,
        )
        self._consumers.append(consumer)
        if self._started:
            self._launch(consumer)

    async def start(self) -> None:
        """Start consuming for every subscriber (later subscribers start when added)."""
        # Groups exist once start() returns, so an event published right after is not missed.
        for consumer in self._consumers:
            await ensure_group(self.redis, self.stream, consumer.group)
        self._started = True
        for consumer in self._consumers:
            if consumer not in self._runners:
                self._launch(consumer)

    async def close(self, *, grace_seconds: float = 30.0) -> None:
        """Stop reading, let running handlers finish (up to `grace_seconds`), close the client."""
        self._started = False
        for consumer in self._consumers:
            consumer.stop()
        runners = list(self._runners.values())
        if runners:
            _, pending = await asyncio.wait(runners, timeout=grace_seconds + 2)
            for task in pending:
                task.cancel()
            await asyncio.gather(*runners, return_exceptions=True)
        self._runners.clear()
        if self._owns_client:
            await self.redis.aclose()

    def _launch(self, consumer: StreamConsumer) -> None:
        task = asyncio.create_task(consumer.run(), name=f"bus:{consumer.group}")
        self._runners[consumer] = task
        task.add_done_callback(self._report_crash)

    @staticmethod
    def _report_crash(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("event consumer %s stopped", task.get_name(), exc_info=task.exception())

    async def _dead_letter(self, message_id: str, fields: Fields, failures: int) -> None:
        log.error(
            "event %s (%s) dropped after %d failed deliveries",
            message_id,
            fields.get("type"),
            failures,
        )


def _group_name(handler: Handler) -> str:
    module = getattr(handler, "__module__", "handler")
    name = getattr(handler, "__qualname__", type(handler).__name__)
    return f"{module}.{name}"
