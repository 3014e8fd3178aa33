"""Redis Streams plumbing shared by the event bus and the work queue.

A `StreamConsumer` reads one stream through a consumer group and hands each message to a handler:

- a message is acknowledged (XACK) only after its handler returned; a handler that raises leaves
  it pending, so it is delivered again;
- messages left pending by a consumer that died (or raised) are re-claimed with XAUTOCLAIM once
  they have been idle for `claim_min_idle_ms`, by whichever consumer of the group looks first;
  while a handler runs, its consumer re-claims the message to itself every third of that time
  (XCLAIM JUSTID), so a slow but live handler is never taken over;
- a message delivered more than `max_deliveries` times is a poison message: `on_dead_letter` is
  called with it and it is acknowledged, so one bad message cannot loop forever;
- `stop()` stops reading, lets in-flight handlers finish (up to `stop_grace_seconds`) and returns.

Delivery is therefore at least once: handlers must tolerate a repeat.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

Fields = dict[str, str]
MessageHandler = Callable[[str, Fields], Awaitable[None]]
DeadLetterHandler = Callable[[str, Fields, int], Awaitable[None]]

# A read blocks at most this long, which bounds how long `stop()` waits for the read loop.
DEFAULT_BLOCK_MS = 500
# A message idle this long in another consumer's pending list is taken over; long enough that a
# slow but live consumer keeps its work, short enough that a crashed worker's jobs move on.
DEFAULT_CLAIM_MIN_IDLE_MS = 60_000
# After this many deliveries a message is treated as poison instead of being retried again.
DEFAULT_MAX_DELIVERIES = 5


def consumer_name(prefix: str = "") -> str:
    """A name unique to this process and instance: host, pid and a random suffix."""
    base = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    return f"{prefix}{base}" if prefix else base


async def ensure_group(redis: Redis, stream: str, group: str, start_id: str = "$") -> None:
    """Create the consumer group (and the stream) unless it exists; `start_id` only applies then."""
    try:
        await redis.xgroup_create(stream, group, id=start_id, mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


class StreamConsumer:
    """Reads `stream` as `consumer` of `group`, running up to `concurrency` handlers at once."""

    def __init__(
        self,
        redis: Redis,
        *,
        stream: str,
        group: str,
        handler: MessageHandler,
        consumer: str | None = None,
        concurrency: int = 1,
        block_ms: int = DEFAULT_BLOCK_MS,
        claim_min_idle_ms: int = DEFAULT_CLAIM_MIN_IDLE_MS,
        max_deliveries: int = DEFAULT_MAX_DELIVERIES,
        on_dead_letter: DeadLetterHandler | None = None,
        group_start_id: str = "$",
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.redis = redis
        self.stream = stream
        self.group = group
        self.consumer = consumer or consumer_name()
        self._handler = handler
        self._concurrency = concurrency
        self._block_ms = block_ms
        self._claim_min_idle_ms = claim_min_idle_ms
        self._max_deliveries = max_deliveries
        self._on_dead_letter = on_dead_letter
        self._group_start_id = group_start_id
        self._stopping = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(concurrency)
        self._next_claim = 0.0

    @property
    def busy(self) -> int:
        """Handlers running right now."""
        return len(self._inflight)

    def stop(self) -> None:
        """Ask the loop to stop after the current read; `run()` returns once handlers finish."""
        self._stopping.set()

    async def run(self, *, stop_grace_seconds: float = 30.0) -> None:
        """Consume until `stop()`. Connection errors are logged and retried with a short pause."""
        await ensure_group(self.redis, self.stream, self.group, self._group_start_id)
        loop = asyncio.get_running_loop()
        try:
            while not self._stopping.is_set():
                try:
                    if loop.time() >= self._next_claim:
                        # Re-check about twice per idle period: a dead consumer's messages wait
                        # at most ~1.5x the idle time.
                        self._next_claim = loop.time() + self._claim_min_idle_ms / 2000
                        await self._reclaim()
                    await self._read_new()
                except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                    log.warning("redis stream %s: %s; retrying in 1 s", self.stream, exc)
                    await self._sleep_unless_stopping(1.0)
        finally:
            if self._inflight:
                _, pending = await asyncio.wait(self._inflight, timeout=stop_grace_seconds)
                for task in pending:
                    task.cancel()
                if pending:
                    log.warning(
                        "stream %s: %d handler(s) did not finish in %.0f s; they stay pending",
                        self.stream,
                        len(pending),
                        stop_grace_seconds,
                    )

    async def _sleep_unless_stopping(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            pass

    async def _free_slots(self) -> int:
        """Wait until at least one handler slot is free; return how many are."""
        while len(self._inflight) >= self._concurrency:
            await asyncio.wait(self._inflight, return_when=asyncio.FIRST_COMPLETED)
        return self._concurrency - len(self._inflight)

    async def _read_new(self) -> None:
        free = await self._free_slots()
        if self._stopping.is_set():
            return
        response: Any = await self.redis.xreadgroup(
            self.group, self.consumer, {self.stream: ">"}, count=free, block=self._block_ms
        )
        for _stream, messages in response or []:
            for message_id, fields in messages:
                self._spawn(message_id, fields)

    async def _reclaim(self) -> None:
        """Take over messages idle in any consumer's pending list (a dead one's, or a failure)."""
        free = await self._free_slots()
        result: Any = await self.redis.xautoclaim(
            self.stream,
            self.group,
            self.consumer,
            min_idle_time=self._claim_min_idle_ms,
            start_id="0-0",
            count=free,
        )
        messages = result[1] if result else []
        for message_id, fields in messages:
            if fields is None:  # trimmed away by MAXLEN while pending: nothing left to run
                await self.redis.xack(self.stream, self.group, message_id)
                continue
            deliveries = await self._delivery_count(message_id)
            if deliveries > self._max_deliveries:
                log.error(
                    "stream %s message %s failed %d deliveries; dropping it as poison",
                    self.stream,
                    message_id,
                    deliveries - 1,
                )
                if self._on_dead_letter is not None:
                    try:
                        await self._on_dead_letter(message_id, fields, deliveries - 1)
                    except Exception:
                        log.exception("dead-letter handler failed for %s", message_id)
                await self.redis.xack(self.stream, self.group, message_id)
                continue
            log.info(
                "stream %s: re-claimed message %s (delivery %d)",
                self.stream,
                message_id,
                deliveries,
            )
            self._spawn(message_id, fields)

    async def _delivery_count(self, message_id: str) -> int:
        rows: Any = await self.redis.xpending_range(
            self.stream, self.group, min=message_id, max=message_id, count=1
        )
        return int(rows[0]["times_delivered"]) if rows else 1

    def _spawn(self, message_id: str, fields: Fields) -> None:
        task = asyncio.create_task(self._process(message_id, fields))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _process(self, message_id: str, fields: Fields) -> None:
        async with self._slots:
            keepalive = asyncio.create_task(self._keep_claimed(message_id))
            try:
                await self._handler(message_id, fields)
            except Exception:
                # Not acknowledged: it stays pending and is re-claimed after the idle time.
                log.exception("stream %s: handler failed for message %s", self.stream, message_id)
                return
            finally:
                keepalive.cancel()
                await asyncio.gather(keepalive, return_exceptions=True)
            await self.redis.xack(self.stream, self.group, message_id)

    async def _keep_claimed(self, message_id: str) -> None:
        """Reset the message's idle time while its handler runs, so no one else takes it."""
        interval = self._claim_min_idle_ms / 3000
        while True:
            await asyncio.sleep(interval)
            try:
                await self.redis.xclaim(
                    self.stream, self.group, self.consumer, 0, [message_id], justid=True
                )
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                log.warning("stream %s: keep-alive of %s failed: %s", self.stream, message_id, exc)
