"""The event bus: typed, versioned events; in-process by default, Redis Streams with REDIS_URL.

Every cycle step emits one of `EVENT_TYPES`. Publishers never wait for subscribers' work; a failing
subscriber is logged and does not stop the others.

The envelope (`Event`) is generic: `payload` is a JSON-ready dict so any process can carry any
event. Its shape per type and version is a pydantic model registered in `PAYLOAD_MODELS`
(see `orchestrator.event_payloads`); build events with `make_event(...)` and read them back with
`parse_payload(event)`. A new incompatible payload shape registers a new version next to the old
one, so consumers of either version keep working during a rolling upgrade.

Two buses share one interface (`EventBus`): `InProcessBus` (asyncio tasks, at most once, nothing
survives a restart) and `RedisStreamBus` (`orchestrator.redis_bus`: one Redis stream, a consumer
group per subscriber, at least once). `build_event_bus(settings)` picks one from `REDIS_URL`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, Field
from structlog.contextvars import bind_contextvars

from orchestrator.store.base import utcnow

if TYPE_CHECKING:
    from orchestrator.config import Settings

log = logging.getLogger(__name__)

EVENT_TYPES = (
    "cycle.started",
    "candidates.selected",
    "analysis.completed",
    "decision.proposed",
    "risk.verdict",
    "approval.requested",
    "approval.resolved",
    "order.submitted",
    "order.filled",
    "order.rejected",
    "cycle.completed",
    "cycle.failed",
    "alert",
    "killswitch.changed",
    "daily.summary",
)


class Event(BaseModel):
    """One thing that happened. `payload` is JSON-ready; `version` changes when its shape does."""

    type: str
    payload: dict[str, Any] = Field(default_factory=dict)
    version: int = 1
    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    at: datetime = Field(default_factory=utcnow)
    cycle_id: int | None = None


Handler = Callable[[Event], Awaitable[None]]


class EventBus(Protocol):
    """Publish events and subscribe handlers by type ("*" for all).

    Contract: `publish` returns once the event is accepted (queued or written to the stream);
    delivery to subscribers is at least once for Redis and at most once in-process. A handler
    that raises is logged; it never stops delivery to other handlers. `start()` begins
    delivery to subscribers (a no-op in-process); `close()` stops it after in-flight handlers
    finish. Publishing needs neither.
    """

    async def publish(self, event: Event) -> None: ...

    def subscribe(self, types: tuple[str, ...] | str, handler: Handler) -> None: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


# --- typed payloads --------------------------------------------------------------------------

PAYLOAD_MODELS: dict[tuple[str, int], type[BaseModel]] = {}
LATEST_VERSION: dict[str, int] = {}


def register_payload(event_type: str, version: int, model: type[BaseModel]) -> None:
    """Declare the payload shape of `event_type` at `version` (the highest is used to publish)."""
    PAYLOAD_MODELS[(event_type, version)] = model
    LATEST_VERSION[event_type] = max(version, LATEST_VERSION.get(event_type, 0))


def payload_model(event_type: str, version: int | None = None) -> type[BaseModel]:
    """The payload model of an event type (latest version unless given).

    Raises `KeyError` naming the type and version when none is registered.
    """
    _load_payload_models()
    if version is None:
        version = LATEST_VERSION.get(event_type, 0)
    try:
        return PAYLOAD_MODELS[(event_type, version)]
    except KeyError:
        raise KeyError(f"no payload model for event {event_type!r} version {version}") from None


def make_event(payload: BaseModel, *, cycle_id: int | None = None) -> Event:
    """Wrap a registered payload model in an envelope with its type and version.

    Raises `KeyError` when the model's class is not registered for any event type.
    """
    _load_payload_models()
    for (event_type, version), model in PAYLOAD_MODELS.items():
        if type(payload) is model:
            return Event(
                type=event_type,
                version=version,
                payload=payload.model_dump(mode="json"),
                cycle_id=cycle_id,
            )
    raise KeyError(f"{type(payload).__name__} is not a registered event payload")


def parse_payload(event: Event) -> BaseModel:
    """The event's payload validated against its registered model.

    Raises `KeyError` for an unknown type/version and `pydantic.ValidationError` for a payload
    that does not match its model.
    """
    return payload_model(event.type, event.version).model_validate(event.payload)


def _load_payload_models() -> None:
    # The models live in their own module (they are many); importing it registers them.
    import orchestrator.event_payloads  # noqa: F401


def bind_cycle_log_context(event: Event) -> None:
    """On `cycle.started`, bind its cycle id to the publishing task's log context.

    The cycle publishes `cycle.started` from its own task, so every later log line of that
    cycle (and of the tasks it starts) carries `cycle_id`, whichever face started the cycle:
    that is how Loki finds a cycle's lines. Both buses call this from `publish`.
    """
    if event.type == "cycle.started" and event.cycle_id is not None:
        bind_contextvars(cycle_id=event.cycle_id)


# --- the in-process bus ----------------------------------------------------------------------


class InProcessBus:
    """Delivers events to subscribers in this process, each in its own task."""

    def __init__(self) -> None:
        self._handlers: list[tuple[tuple[str, ...], Handler]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def subscribe(self, types: tuple[str, ...] | str, handler: Handler) -> None:
        self._handlers.append(((types,) if isinstance(types, str) else types, handler))

    async def publish(self, event: Event) -> None:
        bind_cycle_log_context(event)
        for types, handler in self._handlers:
            if "*" in types or event.type in types:
                task = asyncio.create_task(self._deliver(handler, event))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait until every delivery started so far has finished (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def start(self) -> None:
        """Nothing to start: delivery begins at `publish`."""

    async def close(self) -> None:
        """Let every started delivery finish."""
        await self.drain()

    @staticmethod
    async def _deliver(handler: Handler, event: Event) -> None:
        try:
            await handler(event)
        except Exception:
            log.exception("event handler failed for %s", event.type)


def build_event_bus(settings: Settings) -> EventBus:
    """`RedisStreamBus` when REDIS_URL is set, else `InProcessBus`."""
    if settings.redis_url:
        from orchestrator.redis_bus import RedisStreamBus

        return RedisStreamBus.from_url(settings.redis_url)
    return InProcessBus()


def __getattr__(name: str) -> Any:
    # `from orchestrator.events import RedisStreamBus` without importing redis for every user.
    if name == "RedisStreamBus":
        from orchestrator.redis_bus import RedisStreamBus

        return RedisStreamBus
    raise AttributeError(name)
