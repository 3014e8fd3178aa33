"""The cycle record: everything one cycle saw and did, stored as the ledger in `cycle.record`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

STEPS = ("select", "gather_analyse", "decide", "risk_confirm_execute", "record")


class CandidateRecord(BaseModel):
    symbol: str
    held: bool = False
    rank_score: float | None = None
    price: float | None = None
    signals: dict[str, float] = Field(default_factory=dict)
    facts: dict[str, Any] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    error: str = ""


class ProposalRecord(BaseModel):
    symbol: str
    side: str
    quantity: float | None = None
    target_weight: float | None = None
    confidence: float | None = None
    rationale: str = ""
    dropped_reason: str = ""
    verdict: str = ""  # approved | resized | blocked | "" (dropped before risk)
    verdict_quantity: float | None = None
    price: float | None = None
    reasons: list[str] = Field(default_factory=list)
    clamps: list[dict[str, Any]] = Field(default_factory=list)
    approval_id: str | None = None
    approval_status: str = ""
    order_id: str | None = None
    order_status: str = ""
    proposal_id: int | None = None  # the stored `trade_proposal` row
    order_type: str = "market"
    limit_price: float | None = None


class CycleRecord(BaseModel):
    """The complete result of one `run_cycle`; `status` is completed, failed or stopped."""

    cycle_id: int
    slot: str
    mode: str
    as_of: datetime
    status: str = "running"
    step: str = ""  # the step running now (or when the cycle failed)
    error: str = ""
    engine: str = ""
    candidates: list[CandidateRecord] = Field(default_factory=list)
    decision_summary: str = ""
    decision_abstained: str = ""
    proposals: list[ProposalRecord] = Field(default_factory=list)
    fills: list[dict[str, Any]] = Field(default_factory=list)  # fills recorded at the cycle's start
    timings: dict[str, float] = Field(default_factory=dict)  # step -> seconds
    llm_calls: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    equity: float | None = None
    cash: float | None = None
    positions: int | None = None  # open positions after the cycle
    weights: dict[str, float] = Field(default_factory=dict)
    regime: str = ""  # risk_on | neutral | risk_off | crisis; "" when unknown
    regime_facts: dict[str, Any] = Field(default_factory=dict)  # the numbers behind the label
    notes: list[str] = Field(default_factory=list)

    @property
    def seconds(self) -> float:
        return sum(self.timings.values())

    def count(self, verdict: str) -> int:
        return sum(1 for p in self.proposals if p.verdict == verdict)

    def summary(self) -> dict[str, Any]:
        """The headline numbers (the shape of the service's `CycleSummary`), JSON-ready."""
        return {
            "cycle_id": self.cycle_id,
            "slot": self.slot,
            "as_of": self.as_of.isoformat(),
            "status": self.status,
            "candidates": [c.symbol for c in self.candidates],
            "proposals": len(self.proposals),
            "approved": self.count("approved"),
            "resized": self.count("resized"),
            "blocked": self.count("blocked"),
            "pending_approvals": sum(1 for p in self.proposals if p.approval_status == "pending"),
            "orders": sum(1 for p in self.proposals if p.order_id),
            "llm_calls": self.llm_calls,
            "tokens": self.tokens,
            "cost_usd": round(self.cost_usd, 6),
            "seconds": round(self.seconds, 3),
            "error": self.error,
        }
