"""Building and publishing the trading events (`risk.verdict`, `approval.*`, `order.*`,
`killswitch.changed`) with the payload shapes registered in `orchestrator.event_payloads`.

A missing bus (None) means "nobody listens" (unit tests, one-off scripts); publishing never
raises for a subscriber's failure (the bus contract).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from orchestrator.domain import Order, RiskVerdict
from orchestrator.event_payloads import (
    KillSwitchChanged,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    RiskVerdictEvent,
)
from orchestrator.events import Event, EventBus, make_event

_ORDER_EVENTS = {
    "order.submitted": OrderSubmitted,
    "order.filled": OrderFilled,
    "order.rejected": OrderRejected,
}


async def publish(bus: EventBus | None, event: Event) -> None:
    if bus is not None:
        await bus.publish(event)


async def order_event(
    bus: EventBus | None, event_type: str, order: Order, *, cycle_id: int | None = None
) -> None:
    model = _ORDER_EVENTS[event_type]
    payload = model(
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=order.side.value,
        quantity=order.quantity,
        status=order.status.value,
        filled_quantity=order.filled_quantity,
        avg_fill_price=order.avg_fill_price,
        reason=order.reason,
    )
    await publish(bus, make_event(payload, cycle_id=cycle_id))


async def verdict_event(
    bus: EventBus | None,
    verdict: RiskVerdict,
    *,
    proposal_id: int | None,
    cycle_id: int | None,
) -> None:
    limits = [clamp.limit for clamp in verdict.clamps]
    payload = RiskVerdictEvent(
        symbol=verdict.symbol,
        side=verdict.side.value,
        status=verdict.status.value,
        quantity=verdict.quantity,
        price=verdict.price,
        reasons=list(verdict.reasons),
        limits=limits,
        proposal_id=proposal_id,
    )
    await publish(bus, make_event(payload, cycle_id=cycle_id))


async def killswitch_event(bus: EventBus | None, *, active: bool, reason: str, by: str) -> None:
    user_id = int(by) if by.isdigit() else None
    payload = KillSwitchChanged(active=active, reason=reason, user_id=user_id)
    await publish(bus, make_event(payload))


# Approval ids are short strings ("K7Q2MX") that people type; the payloads are built here as
# plain dicts with the registered field names so they carry the id people see.
async def approval_requested(
    bus: EventBus | None,
    *,
    approval_id: str,
    symbol: str,
    side: str,
    quantity: float,
    notional: float,
    expires_at: datetime,
    cycle_id: int | None,
) -> None:
    payload: dict[str, Any] = {
        "approval_id": approval_id,
        "symbol": symbol,
        "side": side,
        "quantity": quantity,
        "notional": notional,
        "expires_at": expires_at.isoformat(),
    }
    await publish(bus, Event(type="approval.requested", payload=payload, cycle_id=cycle_id))


async def approval_resolved(
    bus: EventBus | None, *, approval_id: str, decision: str, by: str, cycle_id: int | None
) -> None:
    payload: dict[str, Any] = {
        "approval_id": approval_id,
        "decision": decision,
        "user_id": int(by) if by.isdigit() else None,
        "by": by,
    }
    await publish(bus, Event(type="approval.resolved", payload=payload, cycle_id=cycle_id))
