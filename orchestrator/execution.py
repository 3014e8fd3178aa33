"""Risk -> confirm -> execute: what happens to a cycle's decision after the LLM has spoken.

`process_decision(runtime, output, record, holdings=..., as_of=...)`:
1. validates the proposals (`trading.proposals.validate_proposals`): unknown symbols, symbols
   outside the cycle's candidates and holdings, malformed items are dropped with the reason;
2. prices each at `as_of` (point in time) and runs the risk manager against the portfolio, with
   the cycle's market regime (`record.regime`) scaling exposure limits;
3. stores every proposal and verdict, emits `proposal.created` and `risk.verdict`;
4. applies APPROVAL_POLICY: an order that needs a person becomes a pending approval (short id,
   expiry APPROVAL_TIMEOUT, `approval.requested`); otherwise it is sent at once;
5. sends orders with the deterministic client order id of (cycle, symbol, side).

Failure contract: a proposal that cannot be priced is dropped with the reason; a broker failure on
one order is recorded on that proposal and the others go on; database errors raise. Nothing is sent
while trading is paused, and the kill switch blocks everything in the risk manager.

Re-running the same cycle's decision (a retry after a crash) sends nothing twice: a proposal the
cycle already stored is reported as it stands (its verdict, approval and order) and only an
approved order that was never recorded as sent is sent, under the same client order id, which
the broker refuses to duplicate.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from orchestrator.cycle_record import CycleRecord, ProposalRecord
from orchestrator.domain import (
    ClampEvent,
    Order,
    RiskVerdict,
    Side,
    TradeProposal,
    VerdictStatus,
)
from orchestrator.errors import DataError
from orchestrator.event_payloads import ProposalCreated
from orchestrator.store.db import session_scope
from orchestrator.store.trading import (
    ApprovalRow,
    TradeProposalRow,
    add_proposal,
    approval_for_proposal,
    find_cycle_proposal,
    get_order_row,
    latest_verdict,
    load_trading_state,
    order_from_row,
    record_equity,
)
from orchestrator.trading import approvals, notify
from orchestrator.trading.desk import Desk, TradingParts, check, open_desk, price_of, send
from orchestrator.trading.ids import client_order_id
from orchestrator.trading.proposals import DecisionOutput, validate_proposals

log = logging.getLogger(__name__)

PAUSED_NOTE = "not sent: trading is paused (resume to trade again)"


async def process_decision(
    runtime: TradingParts,
    output: DecisionOutput | None,
    record: CycleRecord,
    *,
    holdings: dict[str, float],
    as_of: datetime,
) -> list[ProposalRecord]:
    """Validate, risk-check, store, confirm by policy and execute; one record per proposal."""
    if output is None or not output.proposals:
        return []
    settings = runtime.settings
    candidates = [c.symbol for c in record.candidates]
    held = [symbol for symbol, quantity in holdings.items() if quantity]
    known = {s.upper() for s in settings.universe} | set(candidates) | set(held)
    checked = validate_proposals(
        output.proposals, candidates=candidates, holdings=held, known_symbols=known
    )
    regime = getattr(record, "regime", None)
    regime = regime if isinstance(regime, str) and regime else None
    policy = approvals.parse_policy(settings.approval_policy)
    cycle_id = record.cycle_id

    results: list[ProposalRecord] = []
    desk = await open_desk(runtime, as_of) if checked.accepted else None
    if desk is not None:
        await asyncio.to_thread(_record_equity, runtime, desk, as_of)
    for proposal in checked.accepted:
        assert desk is not None
        results.append(await _process_one(runtime, desk, proposal, cycle_id, regime, policy, as_of))
    for dropped in checked.dropped:
        results.append(await _drop(runtime, dropped.raw, dropped.reason, cycle_id))
    return results


async def _process_one(
    runtime: TradingParts,
    desk: Desk,
    proposal: TradeProposal,
    cycle_id: int | None,
    regime: str | None,
    policy: approvals.ApprovalPolicy,
    as_of: datetime,
) -> ProposalRecord:
    try:
        price = await price_of(runtime, proposal.symbol, as_of)
    except DataError as exc:
        raw = proposal.model_dump(mode="json")
        return await _drop(
            runtime, raw, f"no price for {proposal.symbol} at {as_of}: {exc}", cycle_id
        )

    stored = await asyncio.to_thread(_stored, runtime.engine, cycle_id, proposal)
    if stored is not None:
        return await _resume(runtime, desk, proposal, stored, cycle_id, regime, policy, price)

    proposal_id = await asyncio.to_thread(_add_proposal, runtime.engine, cycle_id, proposal)
    await notify.proposal_created(
        runtime.bus,
        ProposalCreated(
            symbol=proposal.symbol,
            side=proposal.side.value,
            status="accepted",
            quantity=proposal.quantity,
            target_weight=proposal.target_weight,
            confidence=proposal.confidence,
            proposal_id=proposal_id,
        ),
        cycle_id,
    )
    verdict, verdict_id = await check(
        runtime,
        desk,
        proposal,
        price,
        regime=regime,
        proposal_id=proposal_id,
        cycle_id=cycle_id,
    )
    result = _record(proposal, proposal_id, verdict, price)
    if verdict.status == VerdictStatus.BLOCKED:
        return result
    return await _confirm_or_send(
        runtime, desk, proposal, verdict, verdict_id, proposal_id, cycle_id, policy, result
    )


async def _confirm_or_send(
    runtime: TradingParts,
    desk: Desk,
    proposal: TradeProposal,
    verdict: RiskVerdict,
    verdict_id: int | None,
    proposal_id: int | None,
    cycle_id: int | None,
    policy: approvals.ApprovalPolicy,
    result: ProposalRecord,
) -> ProposalRecord:
    if desk.paused:
        result.reasons.append(PAUSED_NOTE)
        return result
    if policy.needs_confirmation(verdict.notional):
        row = await asyncio.to_thread(
            _create_approval,
            runtime,
            proposal,
            verdict,
            proposal_id,
            verdict_id,
            cycle_id,
            desk.at,
        )
        payload = approvals.approval_payload(row)
        await notify.approval_requested(runtime.bus, payload, cycle_id=cycle_id)
        desk.commit(verdict)
        result.approval_id = row.id
        result.approval_status = row.status
        return result
    coid = client_order_id(
        desk.namespace, cycle_id, verdict.symbol, verdict.side, ref=str(proposal_id)
    )
    order, problem = await send(runtime, proposal, verdict, client_order_id=coid, cycle_id=cycle_id)
    _apply_order(result, coid, order, problem)
    if order is not None and not problem:
        desk.commit(verdict)
    return result


async def _resume(
    runtime: TradingParts,
    desk: Desk,
    proposal: TradeProposal,
    stored: dict[str, Any],
    cycle_id: int | None,
    regime: str | None,
    policy: approvals.ApprovalPolicy,
    price: float,
) -> ProposalRecord:
    """A proposal this cycle already stored: report it; send only what was never sent."""
    proposal_id = stored["proposal_id"]
    verdict: RiskVerdict | None = stored["verdict"]
    if verdict is None:  # stored, then a crash before the risk check: check it now
        verdict, verdict_id = await check(
            runtime,
            desk,
            proposal,
            price,
            regime=regime,
            proposal_id=proposal_id,
            cycle_id=cycle_id,
        )
    else:
        verdict_id = stored["verdict_id"]
    result = _record(proposal, proposal_id, verdict, price)
    approval: ApprovalRow | None = stored["approval"]
    coid = client_order_id(
        desk.namespace, cycle_id, verdict.symbol, verdict.side, ref=str(proposal_id)
    )
    if approval is not None:
        result.approval_id = approval.id
        result.approval_status = approval.status
        order = stored["orders"].get(approval.client_order_id or "")
        if order is not None:
            _apply_order(result, order.client_order_id, order, "")
        return result
    if coid in stored["orders"]:
        _apply_order(result, coid, stored["orders"][coid], "")
        return result
    if verdict.status == VerdictStatus.BLOCKED:
        return result
    return await _confirm_or_send(
        runtime, desk, proposal, verdict, verdict_id, proposal_id, cycle_id, policy, result
    )


def _apply_order(result: ProposalRecord, coid: str, order: Order | None, problem: str) -> None:
    result.order_id = coid
    result.order_status = order.status.value if order is not None else "unconfirmed"
    if problem:
        result.reasons.append(problem)


def _record(
    proposal: TradeProposal, proposal_id: int | None, verdict: RiskVerdict, price: float
) -> ProposalRecord:
    return ProposalRecord(
        symbol=proposal.symbol,
        side=proposal.side.value,
        quantity=proposal.quantity,
        target_weight=proposal.target_weight,
        confidence=proposal.confidence,
        rationale=proposal.rationale,
        verdict=verdict.status.value,
        verdict_quantity=verdict.quantity,
        price=price,
        reasons=list(verdict.reasons),
        clamps=[clamp.model_dump(mode="json") for clamp in verdict.clamps],
        proposal_id=proposal_id,
        order_type=proposal.order_type.value,
        limit_price=proposal.limit_price,
    )


async def _drop(
    runtime: TradingParts, raw: dict[str, Any], reason: str, cycle_id: int | None
) -> ProposalRecord:
    proposal_id = await asyncio.to_thread(_add_dropped, runtime.engine, cycle_id, raw, reason)
    symbol = str(raw.get("symbol", "?"))[:16]
    side = str(raw.get("side", ""))[:8]
    quantity = raw.get("quantity")
    weight = raw.get("target_weight")
    confidence = raw.get("confidence")
    await notify.proposal_created(
        runtime.bus,
        ProposalCreated(
            symbol=symbol,
            side=side,
            status="dropped",
            reason=reason,
            proposal_id=proposal_id,
            quantity=_float(quantity),
            target_weight=_float(weight),
            confidence=_float(confidence),
        ),
        cycle_id,
    )
    return ProposalRecord(
        symbol=symbol,
        side=side,
        quantity=_float(quantity),
        target_weight=_float(weight),
        confidence=_float(confidence),
        rationale=str(raw.get("rationale") or "")[:500],
        dropped_reason=reason,
        proposal_id=proposal_id,
    )


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


# --- storage (blocking; run in a thread) ---------------------------------------------------------


def _proposal_row(cycle_id: int | None, proposal: TradeProposal) -> TradeProposalRow:
    return TradeProposalRow(
        cycle_id=cycle_id,
        source="agent",
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


def _add_proposal(engine: Engine, cycle_id: int | None, proposal: TradeProposal) -> int | None:
    with session_scope(engine) as session:
        return add_proposal(session, _proposal_row(cycle_id, proposal)).id


def _add_dropped(
    engine: Engine, cycle_id: int | None, raw: dict[str, Any], reason: str
) -> int | None:
    def number(key: str) -> float | None:
        return _float(raw.get(key))

    row = TradeProposalRow(
        cycle_id=cycle_id,
        source="agent",
        symbol=str(raw.get("symbol", "?"))[:16],
        side=str(raw.get("side", ""))[:8],
        quantity=number("quantity"),
        target_weight=number("target_weight"),
        confidence=number("confidence"),
        rationale=str(raw.get("rationale") or "")[:2_000],
        status="dropped",
        drop_reason=reason,
        raw={key: value for key, value in raw.items() if _json_safe(value)},
    )
    with session_scope(engine) as session:
        return add_proposal(session, row).id


def _json_safe(value: Any) -> bool:
    if isinstance(value, float):
        return value == value and value not in (float("inf"), float("-inf"))
    return isinstance(value, str | int | bool | list | dict | type(None))


def _stored(engine: Engine, cycle_id: int | None, proposal: TradeProposal) -> dict[str, Any] | None:
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


def _create_approval(
    runtime: TradingParts,
    proposal: TradeProposal,
    verdict: RiskVerdict,
    proposal_id: int | None,
    verdict_id: int | None,
    cycle_id: int | None,
    now: datetime,
) -> ApprovalRow:
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
        session.expunge(row)
        return row


def _record_equity(runtime: TradingParts, desk: Desk, at: datetime) -> None:
    with session_scope(runtime.engine) as session:
        record_equity(
            session,
            broker=runtime.broker.name,
            at=at,
            cash=desk.portfolio.cash,
            equity=desk.portfolio.equity,
            gross=desk.portfolio.gross_exposure,
        )
