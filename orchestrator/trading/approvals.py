"""Approvals: which verdicts wait for a person (`APPROVAL_POLICY`), and the approval records.

Policy (`parse_policy`):
- `auto`: every approved or resized order is sent at once;
- `confirm_all`: every order waits for an admin's Approve;
- `confirm_above:<notional>`: orders above that notional wait, smaller ones are sent at once.

An approval is a row with a short id people can type ("K7Q2MX") and an expiry
(`APPROVAL_TIMEOUT` minutes). Its life: pending -> rejected | expired | approved, and an approved
one ends executed (an order was sent) or failed (risk refused it at approval time, or the broker
refused the order; `note` says why). Moving out of `pending` is a conditional UPDATE
(`store.trading.claim_approval`), so an approval resolves exactly once however many people press
the button, and an expired one can never be executed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlmodel import Session

from orchestrator.domain import RiskVerdict, TradeProposal
from orchestrator.errors import ConfigError
from orchestrator.store.trading import ApprovalRow, get_approval
from orchestrator.trading.ids import new_approval_id

PENDING = "pending"
APPROVED = "approved"
REJECTED = "rejected"
EXPIRED = "expired"
EXECUTED = "executed"
FAILED = "failed"
FINAL = frozenset({REJECTED, EXPIRED, EXECUTED, FAILED})

# Attempts at drawing an unused short id; 31**6 ids make a second attempt already rare.
_ID_ATTEMPTS = 20


@dataclass(frozen=True)
class ApprovalPolicy:
    mode: Literal["auto", "confirm_all", "confirm_above"]
    threshold: float = 0.0  # confirm_above: orders with a larger notional wait

    def needs_confirmation(self, notional: float) -> bool:
        if self.mode == "auto":
            return False
        if self.mode == "confirm_all":
            return True
        return notional > self.threshold

    def describe(self) -> str:
        if self.mode == "confirm_above":
            return f"confirm_above:{self.threshold:g}"
        return self.mode


def parse_policy(text: str) -> ApprovalPolicy:
    """`APPROVAL_POLICY` text -> policy; raises `ConfigError` saying what is accepted."""
    value = text.strip().lower()
    if value == "auto":
        return ApprovalPolicy("auto")
    if value == "confirm_all":
        return ApprovalPolicy("confirm_all")
    if value.startswith("confirm_above:"):
        try:
            threshold = float(value.split(":", 1)[1])
        except ValueError:
            threshold = -1.0
        if threshold >= 0:
            return ApprovalPolicy("confirm_above", threshold)
    raise ConfigError(
        f"APPROVAL_POLICY={text!r}: expected auto, confirm_all or confirm_above:<notional>"
    )


def is_expired(row: ApprovalRow, now: datetime) -> bool:
    return now >= row.expires_at


def create_approval(
    session: Session,
    *,
    proposal: TradeProposal,
    verdict: RiskVerdict,
    proposal_id: int | None,
    verdict_id: int | None,
    cycle_id: int | None,
    now: datetime,
    timeout_minutes: int,
) -> ApprovalRow:
    """Store a pending approval for an approved or resized verdict, with a fresh short id."""
    for _ in range(_ID_ATTEMPTS):
        approval_id = new_approval_id()
        if get_approval(session, approval_id) is None:
            break
    else:  # pragma: no cover - 20 collisions in a 887-million space
        raise RuntimeError("could not draw an unused approval id")
    row = ApprovalRow(
        id=approval_id,
        proposal_id=proposal_id,
        verdict_id=verdict_id,
        cycle_id=cycle_id,
        symbol=verdict.symbol,
        side=verdict.side.value,
        quantity=verdict.quantity,
        order_type=proposal.order_type.value,
        limit_price=proposal.limit_price,
        price=verdict.price,
        notional=verdict.notional,
        confidence=proposal.confidence,
        rationale=proposal.rationale,
        verdict=verdict.status.value,
        reasons=list(verdict.reasons),
        clamps=[clamp.model_dump(mode="json") for clamp in verdict.clamps],
        status=PENDING,
        created_at=now,
        expires_at=now + timedelta(minutes=timeout_minutes),
    )
    session.add(row)
    session.flush()
    return row


def approval_payload(row: ApprovalRow) -> dict[str, Any]:
    """The approval as JSON-ready fields (the shape of the service's `ApprovalView`)."""
    return {
        "id": row.id,
        "symbol": row.symbol,
        "side": row.side,
        "quantity": row.quantity,
        "price": row.price,
        "notional": row.notional,
        "confidence": row.confidence,
        "rationale": row.rationale,
        "verdict": row.verdict,
        "reasons": list(row.reasons),
        "clamps": [
            {"limit": c.get("limit", ""), "before": c.get("before", 0), "after": c.get("after", 0)}
            for c in row.clamps
        ],
        "status": row.status,
        "expires_at": row.expires_at.isoformat(),
        "cycle_id": row.cycle_id,
        "order_type": row.order_type,
        "limit_price": row.limit_price,
        "resolved_by": row.resolved_by,
        "note": row.note,
        "client_order_id": row.client_order_id,
    }
