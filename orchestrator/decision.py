"""The decide step: compact per-ticker briefs in, a validated `DecisionOutput` out.

The LLM (or the offline rule below, through the same `LLMClient.structured` call) sees one short
brief per candidate — numbers and a few headlines, never raw articles — plus the portfolio, the
limits and lessons. Whatever comes back is only a proposal: `trading.proposals.validate_proposals`
and the risk manager decide what, if anything, happens.

Offline decision rule (deterministic, documented):
    score = sum(weight[s] * signal[s]) over the signals present, each signal in [-1, 1]:
      forecast  = 2 * (prob_up - 0.5)            quantitative 5-day model
      sentiment = aggregated news score           recency-weighted, [-1, 1]
      momentum  = tanh(20-day return / 10 %)      trend
      llm_forecast = +-1 (U/D bin), when an LLM forecaster answered
    Buy a candidate not held when score >= BUY_THRESHOLD, at a target weight of
    BASE_WEIGHT * confidence (confidence = min(1, |score| / 0.5)); sell a holding in full when
    score <= -SELL_THRESHOLD. Otherwise hold. The weights are `DEFAULT_WEIGHTS` unless the
    self-tuning weights supply others.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from orchestrator.llm import CallContext, LLMClient, StructuredResult, register_offline_handler
from orchestrator.trading.proposals import DecisionOutput, DecisionProposal

DEFAULT_WEIGHTS: dict[str, float] = {
    "forecast": 0.4,
    "sentiment": 0.25,
    "momentum": 0.2,
    "llm_forecast": 0.15,
}
# A half-strength agreement of the main signals; below it the offline rule prefers no trade.
BUY_THRESHOLD = 0.15
SELL_THRESHOLD = 0.15
# 5 % of equity per new position keeps the offline rule inside the default 10 % position limit.
BASE_WEIGHT = 0.05
MAX_HEADLINES = 3  # per brief: enough for the gist, cheap in tokens
HEADLINE_CHARS = 160


class Brief(BaseModel):
    """What the decision step knows about one ticker. Compact by construction."""

    symbol: str
    held_quantity: float = 0.0
    price: float
    signals: dict[str, float]  # normalised signals in [-1, 1], see the module docstring
    facts: dict[str, float | str] = {}  # raw numbers for the reader: returns, RSI, bin, ...
    headlines: list[str] = []  # untrusted text, already labelled as such
    evidence_ids: list[str] = []
    notes: list[str] = []


@dataclass
class Decision:
    """The decide step's result: the model's output (or None on abstention) and its accounting."""

    output: DecisionOutput | None
    abstained_reason: str | None
    engine: str
    tokens: int = 0
    cost_usd: float = 0.0
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))


def combined_score(signals: Mapping[str, float], weights: Mapping[str, float]) -> float:
    """Weighted mean of the signals present (weights renormalised over them), in [-1, 1]."""
    present = {name: value for name, value in signals.items() if name in weights}
    total_weight = sum(abs(weights[name]) for name in present)
    if total_weight == 0:
        return 0.0
    score = sum(weights[name] * value for name, value in present.items()) / total_weight
    return max(-1.0, min(1.0, score))


def momentum_signal(return_20d: float) -> float:
    """Squash a 20-day return into [-1, 1]; 10 % maps to about 0.76."""
    return math.tanh(return_20d / 0.10)


def offline_decision(variables: dict[str, Any], schema: type[Any]) -> DecisionOutput:
    """The offline rules engine's answer to the decision task (see the module docstring)."""
    weights = variables.get("weights") or DEFAULT_WEIGHTS
    proposals: list[DecisionProposal] = []
    for raw in variables.get("candidates", []):
        brief = raw if isinstance(raw, Brief) else Brief.model_validate(raw)
        score = combined_score(brief.signals, weights)
        confidence = round(min(1.0, abs(score) / 0.5), 3)
        shown = ", ".join(f"{name} {value:+.2f}" for name, value in sorted(brief.signals.items()))
        rationale = f"Combined score {score:+.2f} from {shown or 'no signals'}."
        if brief.held_quantity <= 0 and score >= BUY_THRESHOLD:
            proposals.append(
                DecisionProposal(
                    symbol=brief.symbol,
                    side="buy",
                    target_weight=round(BASE_WEIGHT * confidence, 4),
                    confidence=confidence,
                    rationale=rationale,
                    evidence_ids=brief.evidence_ids[:5],
                )
            )
        elif brief.held_quantity > 0 and score <= -SELL_THRESHOLD:
            proposals.append(
                DecisionProposal(
                    symbol=brief.symbol,
                    side="sell",
                    quantity=brief.held_quantity,
                    confidence=confidence,
                    rationale=rationale,
                    evidence_ids=brief.evidence_ids[:5],
                )
            )
    proposals.sort(key=lambda p: p.confidence, reverse=True)
    limit = int(variables.get("max_proposals", 5))
    summary = f"{len(proposals[:limit])} proposal(s) from the offline rule"
    return DecisionOutput(proposals=proposals[:limit], summary=summary)


register_offline_handler("decision", offline_decision)


async def decide(
    llm: LLMClient,
    briefs: list[Brief],
    *,
    as_of: datetime,
    portfolio: dict[str, Any],
    limits: dict[str, Any],
    lessons: list[str],
    context: CallContext,
    weights: Mapping[str, float] | None = None,
    max_proposals: int = 5,
) -> Decision:
    """Ask for proposals. An abstention (model failure, malformed JSON) is a decision to trade
    nothing, recorded with its reason; `BudgetExceeded` propagates before any call is made."""
    used_weights = dict(weights or DEFAULT_WEIGHTS)
    if not briefs:
        return Decision(
            DecisionOutput(summary="no candidates"), None, llm.label, weights=used_weights
        )
    result: StructuredResult[DecisionOutput] = await llm.structured(
        "decision",
        template="decision",
        variables={
            "as_of": as_of,
            # The combined score under the current (possibly self-tuned) weights, so the model
            # sees the same summary number the offline rule trades on.
            "candidates": [
                {
                    **brief.model_dump(),
                    "combined_score": round(combined_score(brief.signals, used_weights), 3),
                }
                for brief in briefs
            ],
            "portfolio": portfolio,
            "limits": limits,
            "lessons": lessons,
            "max_proposals": max_proposals,
            "weights": used_weights,
        },
        schema=DecisionOutput,
        context=context,
    )
    return Decision(
        output=result.value,
        abstained_reason=result.abstained_reason,
        engine=result.engine or llm.label,
        tokens=result.tokens,
        cost_usd=result.cost_usd,
        weights=used_weights,
    )
