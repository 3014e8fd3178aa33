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
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from orchestrator.cycle_record import CycleRecord, ProposalRecord
from orchestrator.domain import (
    Order,
    OrderStatus,
    RiskVerdict,
    TradeProposal,
    VerdictStatus,
)
from orchestrator.errors import DataError
from orchestrator.event_payloads import ProposalCreated
from orchestrator.store.trading import (
    ApprovalRow,
)
from orchestrator.trading import approvals, ledger, notify
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
        await asyncio.to_thread(ledger.store_equity, runtime, desk, as_of)
    for proposal in checked.accepted:
        assert desk is not None
        results.append(await _process_one(runtime, desk, proposal, cycle_id, regime, policy, as_of))
    for dropped in checked.dropped:
        results.append(await _drop(runtime, dropped.raw, dropped.reason, cycle_id))
    return results


async def propose_trade(
    parts: TradingParts,
    raw: Mapping[str, Any],
    *,
    as_of: datetime,
    source: str = "tool",
    regime: str | None = None,
) -> ProposalRecord:
    """One proposal from outside a cycle (the agent's `propose_trade` tool, a chat).

    The same gate as a cycle's: validation (any symbol of UNIVERSE or a holding), the risk
    manager, APPROVAL_POLICY, and an order id made from the stored proposal's id, so the caller
    can never place an order directly. Returns the record (dropped, blocked, pending or sent).
    """
    snapshot = await parts.broker.snapshot()
    held = [p.symbol for p in snapshot.positions if p.quantity]
    universe = [s.upper() for s in parts.settings.universe]
    checked = validate_proposals(
        [dict(raw)], candidates=universe, holdings=held, known_symbols=set(universe) | set(held)
    )
    if checked.dropped:
        (dropped,) = checked.dropped
        return await _drop(parts, dropped.raw, dropped.reason, None, source)
    desk = await open_desk(parts, as_of)
    policy = approvals.parse_policy(parts.settings.approval_policy)
    (proposal,) = checked.accepted
    return await _process_one(parts, desk, proposal, None, regime, policy, as_of, source)


async def _process_one(
    runtime: TradingParts,
    desk: Desk,
    proposal: TradeProposal,
    cycle_id: int | None,
    regime: str | None,
    policy: approvals.ApprovalPolicy,
    as_of: datetime,
    source: str = "agent",
) -> ProposalRecord:
    try:
        price = await price_of(runtime, proposal.symbol, as_of)
    except DataError as exc:
        raw = proposal.model_dump(mode="json")
        reason = f"no price for {proposal.symbol} at {as_of}: {exc}"
        return await _drop(runtime, raw, reason, cycle_id, source)

    stored = await asyncio.to_thread(ledger.stored_proposal, runtime.engine, cycle_id, proposal)
    if stored is not None:
        return await _resume(runtime, desk, proposal, stored, cycle_id, regime, policy, price)

    store = ledger.store_proposal
    proposal_id = await asyncio.to_thread(store, runtime.engine, cycle_id, proposal, source, as_of)
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
        row, superseded = await asyncio.to_thread(
            ledger.store_approval,
            runtime,
            proposal,
            verdict,
            proposal_id,
            verdict_id,
            cycle_id,
            desk.at,
        )
        for old in superseded:
            await notify.approval_expired(
                runtime.bus,
                approval_id=old.id,
                symbol=old.symbol,
                side=old.side,
                quantity=old.quantity,
                at=desk.at,
                cycle_id=old.cycle_id,
            )
            await notify.approval_resolved(
                runtime.bus,
                approval_id=old.id,
                decision="expired",
                by="superseded",
                cycle_id=old.cycle_id,
                note=old.note,
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
    if order is None or order.status != OrderStatus.REJECTED:
        desk.commit(verdict)  # an unconfirmed order may exist: count it (the careful side)
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
    runtime: TradingParts,
    raw: dict[str, Any],
    reason: str,
    cycle_id: int | None,
    source: str = "agent",
) -> ProposalRecord:
    proposal_id = await asyncio.to_thread(
        ledger.store_dropped, runtime.engine, cycle_id, raw, reason, source
    )
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
            quantity=ledger.as_float(quantity),
            target_weight=ledger.as_float(weight),
            confidence=ledger.as_float(confidence),
        ),
        cycle_id,
    )
    return ProposalRecord(
        symbol=symbol,
        side=side,
        quantity=ledger.as_float(quantity),
        target_weight=ledger.as_float(weight),
        confidence=ledger.as_float(confidence),
        rationale=str(raw.get("rationale") or "")[:500],
        dropped_reason=reason,
        proposal_id=proposal_id,
    )
