"""The trading ledger as execution writes it: proposals (kept or dropped), approvals, equity, and
what an earlier run of the same cycle already stored. Blocking: callers run these in a thread.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from orchestrator.domain import ClampEvent, RiskVerdict, Side, TradeProposal, VerdictStatus
from orchestrator.store.db import session_scope
from orchestrator.store.trading import (
    ApprovalRow,
    TradeProposalRow,
    add_proposal,
    approval_for_proposal,
    claim_approval,
    find_cycle_proposal,
    get_order_row,
    latest_verdict,
    load_trading_state,
    order_from_row,
    pending_approvals,
    record_equity,
)
from orchestrator.trading import approvals
from orchestrator.trading.desk import Desk, TradingParts
from orchestrator.trading.ids import client_order_id


def as_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def proposal_row(
    cycle_id: int | None,
    proposal: TradeProposal,
    source: str = "agent",
    decided_at: datetime | None = None,
) -> TradeProposalRow:
    """The stored proposal; `decided_at` (the cycle's as_of) dates it, so outcomes are measured
    from the moment of the decision, in a backtest as live."""
    return TradeProposalRow(
        **({"created_at": decided_at} if decided_at is not None else {}),
        cycle_id=cycle_id,
        source=source,
        symbol=proposal.symbol,
        side=proposal.side.value,
        quantity=proposal.quantity,
        target_weight=proposal.target_weight,
        order_type=proposal.order_type.value,
        limit_price=proposal.limit_price,
        confidence=proposal.confidence,
        horizon_days=proposal.horizon_days,
        rationale=proposal.rationale,
        evidence_ids=list(proposal.evidence_ids),
        status="accepted",
        raw=proposal.model_dump(mode="json"),
    )


def store_proposal(
    engine: Engine,
    cycle_id: int | None,
    proposal: TradeProposal,
    source: str = "agent",
    decided_at: datetime | None = None,
) -> int | None:
    with session_scope(engine) as session:
        return add_proposal(session, proposal_row(cycle_id, proposal, source, decided_at)).id


def store_dropped(
    engine: Engine, cycle_id: int | None, raw: dict[str, Any], reason: str, source: str = "agent"
) -> int | None:
    def number(key: str) -> float | None:
        return as_float(raw.get(key))

    row = TradeProposalRow(
        cycle_id=cycle_id,
        source=source,
        symbol=str(raw.get("symbol", "?"))[:16],
        side=str(raw.get("side", ""))[:8],
        quantity=number("quantity"),
        target_weight=number("target_weight"),
        confidence=number("confidence"),
        rationale=str(raw.get("rationale") or "")[:2_000],
        status="dropped",
        drop_reason=reason,
        raw={key: value for key, value in raw.items() if json_safe(value)},
    )
    with session_scope(engine) as session:
        return add_proposal(session, row).id


def json_safe(value: Any) -> bool:
    if isinstance(value, float):
        return value == value and value not in (float("inf"), float("-inf"))
    return isinstance(value, str | int | bool | list | dict | type(None))


def stored_proposal(
    engine: Engine, cycle_id: int | None, proposal: TradeProposal
) -> dict[str, Any] | None:
    """What an earlier run of this cycle stored for the proposal, or None (first run)."""
    if cycle_id is None:
        return None
    with session_scope(engine) as session:
        row = find_cycle_proposal(session, cycle_id, proposal.symbol, proposal.side.value)
        if row is None or row.id is None:
            return None
        verdict_row = latest_verdict(session, row.id)
        verdict = None
        if verdict_row is not None:
            verdict = RiskVerdict(
                status=VerdictStatus(verdict_row.status),
                symbol=verdict_row.symbol,
                side=Side(verdict_row.side),
                quantity=verdict_row.quantity,
                price=verdict_row.price,
                reasons=tuple(verdict_row.reasons),
                clamps=tuple(ClampEvent.model_validate(c) for c in verdict_row.clamps),
            )
        approval = approval_for_proposal(session, row.id)
        if approval is not None:
            session.expunge(approval)
        orders = {}
        namespace = load_trading_state(session).namespace
        coid = client_order_id(namespace, cycle_id, row.symbol, Side(row.side), ref=str(row.id))
        for wanted in (coid, approval.client_order_id if approval else None):
            order_row = get_order_row(session, wanted) if wanted else None
            if order_row is not None:
                orders[order_row.client_order_id] = order_from_row(order_row)
        return {
            "proposal_id": row.id,
            "verdict": verdict,
            "verdict_id": verdict_row.id if verdict_row else None,
            "approval": approval,
            "orders": orders,
        }


def store_approval(
    runtime: TradingParts,
    proposal: TradeProposal,
    verdict: RiskVerdict,
    proposal_id: int | None,
    verdict_id: int | None,
    cycle_id: int | None,
    now: datetime,
) -> tuple[ApprovalRow, list[ApprovalRow]]:
    """A new pending approval, and the older pending ones for the same symbol and side that it
    replaces (marked expired: the newer proposal rests on fresher analysis, and two approvals
    for one trade invite approving it twice)."""
    with session_scope(runtime.engine) as session:
        row = approvals.create_approval(
            session,
            proposal=proposal,
            verdict=verdict,
            proposal_id=proposal_id,
            verdict_id=verdict_id,
            cycle_id=cycle_id,
            now=now,
            timeout_minutes=runtime.settings.approval_timeout,
        )
        superseded = []
        for old in pending_approvals(session):
            if old.id == row.id or (old.symbol, old.side) != (row.symbol, row.side):
                continue
            note = f"superseded by {row.id}, a newer proposal for the same trade; not executed"
            if claim_approval(
                session, old.id, approvals.EXPIRED, by="superseded", at=now, note=note
            ):
                session.refresh(old)
                superseded.append(old)
        for item in (row, *superseded):
            session.expunge(item)
        return row, superseded


def store_equity(runtime: TradingParts, desk: Desk, at: datetime) -> None:
    with session_scope(runtime.engine) as session:
        record_equity(
            session,
            broker=runtime.broker.name,
            at=at,
            cash=desk.portfolio.cash,
            equity=desk.portfolio.equity,
            gross=desk.portfolio.gross_exposure,
        )
