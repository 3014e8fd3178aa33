"""Building and publishing the trading events (`risk.verdict`, `approval.*`, `order.*`,
`killswitch.changed`, `proposal.created`, `alert`) with the payload shapes registered in
`orchestrator.event_payloads`.

A missing bus (None) means "nobody listens" (unit tests, one-off scripts); publishing never
raises for a subscriber's failure (the bus contract).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from orchestrator.domain import Order, RiskVerdict
from orchestrator.event_payloads import (
    Alert,
    ApprovalExpired,
    ApprovalRequested,
    ApprovalResolved,
    KillSwitchChanged,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    ProposalCreated,
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


async def approval_requested(
    bus: EventBus | None, approval: dict[str, Any], *, cycle_id: int | None
) -> None:
    """`approval.requested` carrying the whole approval (`approvals.approval_payload`)."""
    payload = ApprovalRequested(
        approval_id=approval["id"],
        symbol=approval["symbol"],
        side=approval["side"],
        quantity=approval["quantity"],
        notional=approval["notional"],
        expires_at=approval["expires_at"],
        approval=approval,
    )
    await publish(bus, make_event(payload, cycle_id=cycle_id))


async def approval_resolved(
    bus: EventBus | None,
    *,
    approval_id: str,
    decision: str,
    by: str,
    cycle_id: int | None,
    outcome: str = "",
    note: str = "",
) -> None:
    payload = ApprovalResolved(
        approval_id=approval_id,
        decision=decision,  # type: ignore[arg-type]
        user_id=int(by) if by.isdigit() else None,
        by=by,
        outcome=outcome,
        note=note,
    )
    await publish(bus, make_event(payload, cycle_id=cycle_id))


async def approval_expired(
    bus: EventBus | None,
    *,
    approval_id: str,
    symbol: str,
    side: str,
    quantity: float,
    at: datetime,
    cycle_id: int | None,
) -> None:
    payload = ApprovalExpired(
        approval_id=approval_id, symbol=symbol, side=side, quantity=quantity, expired_at=at
    )
    await publish(bus, make_event(payload, cycle_id=cycle_id))


async def proposal_created(
    bus: EventBus | None, payload: ProposalCreated, cycle_id: int | None
) -> None:
    await publish(bus, make_event(payload, cycle_id=cycle_id))


async def alert(
    bus: EventBus | None, title: str, text: str = "", *, level: str = "warning"
) -> None:
    payload = Alert(level=level, title=title, text=text)  # type: ignore[arg-type]
    await publish(bus, make_event(payload))
