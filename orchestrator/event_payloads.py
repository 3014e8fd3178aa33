"""Payload models of the bus events, version 1 of each type in `EVENT_TYPES`.

Fields are plain JSON-ready values (no project objects) so another process, or a future version
of this one, can read them. Amounts are in the account currency; durations in seconds.
Changing a shape incompatibly means a new model registered under version 2, not an edit here.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from orchestrator.events import register_payload


class Payload(BaseModel):
    # Unknown fields are kept out rather than rejected, so a newer publisher that adds an
    # optional field does not break an older consumer of the same version.
    model_config = ConfigDict(extra="ignore", frozen=True)


class CycleStarted(Payload):
    as_of: datetime
    mode: str = Field(description="demo, paper, live or backtest")
    trigger: Literal["schedule", "manual", "backtest"] = "manual"
    slot: datetime | None = Field(None, description="The schedule slot this cycle runs for")


class CandidatesSelected(Payload):
    symbols: list[str]
    holdings: list[str] = Field(default_factory=list, description="Reviewed because held")


class AnalysisCompleted(Payload):
    symbol: str
    ok: bool
    error: str = ""
    sentiment_score: float | None = None
    forecast_prob_up: float | None = None
    duration_seconds: float = 0.0


class DecisionProposed(Payload):
    symbol: str
    side: Literal["buy", "sell"]
    quantity: float | None = None
    target_weight: float | None = None
    confidence: float
    rationale: str = ""
    proposal_id: int | None = None


class RiskVerdictEvent(Payload):
    symbol: str
    side: Literal["buy", "sell"]
    status: Literal["approved", "resized", "blocked"]
    quantity: float
    price: float
    reasons: list[str] = Field(default_factory=list)
    limits: list[str] = Field(
        default_factory=list, description="Names of the limits that clamped or blocked it"
    )
    proposal_id: int | None = None


def _id_text(value: Any) -> Any:
    return str(value) if isinstance(value, int) else value


class ApprovalRequested(Payload):
    # Approval ids are short typed strings ("K7Q2MX"), see orchestrator.trading.ids.
    approval_id: str
    _id = field_validator("approval_id", mode="before")(_id_text)
    symbol: str
    side: Literal["buy", "sell"]
    quantity: float
    notional: float
    expires_at: datetime
    approval: dict[str, Any] | None = Field(
        None, description="The whole approval (ApprovalView fields), so a face needs no lookup"
    )


class ApprovalResolved(Payload):
    approval_id: str
    _id = field_validator("approval_id", mode="before")(_id_text)
    decision: Literal["approved", "rejected", "expired"]
    user_id: int | None = None
    by: str = ""  # who resolved it: a user id, "cli", or "timeout"
    # After an approve: executed (order sent) or failed (risk or the broker refused), with why.
    outcome: str = ""
    note: str = ""


# Trading area: events beyond the design's list (see orchestrator.execution).
class ProposalCreated(Payload):
    symbol: str
    side: str
    status: Literal["accepted", "dropped"]
    quantity: float | None = None
    target_weight: float | None = None
    confidence: float | None = None
    reason: str = ""  # why a dropped proposal never reached risk
    proposal_id: int | None = None


class ApprovalExpired(Payload):
    approval_id: str
    symbol: str
    side: str
    quantity: float
    expired_at: datetime


class OrderEvent(Payload):
    """order.submitted / order.filled / order.rejected share this shape."""

    client_order_id: str
    symbol: str
    side: Literal["buy", "sell"]
    quantity: float
    status: str
    filled_quantity: float = 0.0
    avg_fill_price: float | None = None
    reason: str = ""


class CycleCompleted(Payload):
    status: Literal["completed", "partial", "skipped"] = "completed"
    duration_seconds: float
    step_seconds: dict[str, float] = Field(default_factory=dict)
    candidates: int = 0
    proposals: int = 0
    orders: int = 0
    failed_symbols: list[str] = Field(default_factory=list)
    tokens: int = 0
    cost_usd: float = 0.0
    equity: float | None = None
    positions: int | None = None
    regime: str | None = Field(None, description="Market regime label seen by the cycle")


class CycleFailed(Payload):
    error: str
    step: str = ""
    duration_seconds: float = 0.0


class Alert(Payload):
    level: Literal["info", "warning", "error"] = "info"
    title: str
    text: str = ""


class KillSwitchChanged(Payload):
    active: bool
    reason: str = ""
    user_id: int | None = None


class DailySummary(Payload):
    session: date
    equity: float
    pnl: float
    pnl_pct: float
    cycles: int = 0
    orders: int = 0
    cost_usd: float = 0.0


register_payload("cycle.started", 1, CycleStarted)
register_payload("candidates.selected", 1, CandidatesSelected)
register_payload("analysis.completed", 1, AnalysisCompleted)
register_payload("decision.proposed", 1, DecisionProposed)
register_payload("risk.verdict", 1, RiskVerdictEvent)
register_payload("approval.requested", 1, ApprovalRequested)
register_payload("approval.resolved", 1, ApprovalResolved)
register_payload("cycle.completed", 1, CycleCompleted)
register_payload("cycle.failed", 1, CycleFailed)
register_payload("alert", 1, Alert)
register_payload("killswitch.changed", 1, KillSwitchChanged)
register_payload("daily.summary", 1, DailySummary)
register_payload("proposal.created", 1, ProposalCreated)
register_payload("approval.expired", 1, ApprovalExpired)


# One model serves three types; `make_event` cannot guess which, so these subclasses name them.
class OrderSubmitted(OrderEvent):
    pass


class OrderFilled(OrderEvent):
    pass


class OrderRejected(OrderEvent):
    pass


register_payload("order.submitted", 1, OrderSubmitted)
register_payload("order.filled", 1, OrderFilled)
register_payload("order.rejected", 1, OrderRejected)
