from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from orchestrator.config import load_settings
from orchestrator.event_payloads import CycleCompleted, OrderFilled, RiskVerdictEvent
from orchestrator.events import (
    EVENT_TYPES,
    Event,
    InProcessBus,
    RedisStreamBus,
    build_event_bus,
    make_event,
    parse_payload,
    payload_model,
)


def test_every_event_type_has_a_payload_model() -> None:
    for event_type in EVENT_TYPES:
        assert payload_model(event_type, 1) is payload_model(event_type)


def test_make_event_and_parse_payload_round_trip_through_json() -> None:
    payload = RiskVerdictEvent(
        symbol="AAPL",
        side="buy",
        status="resized",
        quantity=10,
        price=101.5,
        reasons=["order above max notional"],
        limits=["max_order_notional"],
    )
    event = make_event(payload, cycle_id=7)
    assert (event.type, event.version, event.cycle_id) == ("risk.verdict", 1, 7)
    received = Event.model_validate_json(event.model_dump_json())
    assert parse_payload(received) == payload


def test_the_three_order_events_keep_their_own_types() -> None:
    event = make_event(
        OrderFilled(client_order_id="c1", symbol="MSFT", side="sell", quantity=3, status="filled")
    )
    assert event.type == "order.filled"


def test_unknown_version_and_bad_payload_are_refused() -> None:
    with pytest.raises(KeyError, match="version 99"):
        payload_model("cycle.completed", 99)
    with pytest.raises(ValidationError):
        parse_payload(Event(type="cycle.completed", payload={"status": "completed"}))


def test_datetimes_survive_as_aware_values() -> None:
    event = make_event(CycleCompleted(duration_seconds=1.5, step_seconds={"select": 0.2}))
    assert parse_payload(Event.model_validate_json(event.model_dump_json())) == CycleCompleted(
        duration_seconds=1.5, step_seconds={"select": 0.2}
    )
    assert event.at.tzinfo is not None and event.at <= datetime.now(UTC)


def test_build_event_bus_follows_redis_url() -> None:
    assert isinstance(build_event_bus(load_settings()), InProcessBus)
    bus = build_event_bus(load_settings(redis_url="redis://127.0.0.1:1/0"))
    assert isinstance(bus, RedisStreamBus)
