"""The decision step's structured output, and the gate between it and the risk manager.

`DecisionOutput` is the JSON schema the LLM fills. It is deliberately lenient (types only, no
ranges): one bad item must not throw away the good ones, so every rule is checked here, per item,
by `validate_proposals`, which keeps what is sound and drops the rest with a recorded reason.
Nothing in a proposal can raise a limit; limits live in `orchestrator.trading.risk`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from orchestrator.domain import OrderType, Side, TradeProposal

_SYMBOL = re.compile(r"^[A-Z][A-Z0-9.\-]{0,9}$")
MAX_RATIONALE_CHARS = 2_000  # enough for a paragraph; a runaway model cannot bloat the ledger
MAX_EVIDENCE_IDS = 20


class DecisionProposal(BaseModel):
    """One trade the model suggests. Exactly one of `quantity` and `target_weight` is set."""

    symbol: str = Field(description="Ticker, one of the cycle's candidates or holdings")
    side: str = Field(description="buy or sell")
    quantity: float | None = Field(None, description="Shares to trade; null when target_weight")
    target_weight: float | None = Field(
        None, description="Wanted weight of the position after the trade, 0-1 of equity"
    )
    order_type: str = Field("market", description="market or limit")
    limit_price: float | None = Field(None, description="Required for limit orders")
    confidence: float = Field(description="0-1")
    horizon_days: int = Field(5, description="Holding horizon in trading days")
    rationale: str = Field("", description="Why, citing evidence")
    evidence_ids: list[str] = Field(default_factory=list, description="Ids of evidence used")


class DecisionOutput(BaseModel):
    """The decision step's answer: zero or more proposals and a short summary."""

    proposals: list[DecisionProposal] = Field(default_factory=list)
    summary: str = ""


@dataclass(frozen=True)
class DroppedProposal:
    """A proposal that never reached the risk manager, and why."""

    raw: dict[str, Any]
    reason: str

    @property
    def symbol(self) -> str:
        return str(self.raw.get("symbol", "?"))


@dataclass(frozen=True)
class ProposalCheck:
    accepted: list[TradeProposal]
    dropped: list[DroppedProposal]


class _Drop(Exception):
    """Internal: this item is dropped for the given reason."""


def validate_proposals(
    raw_items: Iterable[Any],
    *,
    candidates: Collection[str],
    holdings: Collection[str],
    known_symbols: Collection[str],
) -> ProposalCheck:
    """Turn raw decision items into `TradeProposal`s, dropping each unsound one with a reason.

    Dropped: not an object; a malformed or unknown symbol; a symbol outside this cycle's
    candidates and holdings; a side other than buy/sell; both or neither of quantity and
    target_weight; a quantity that is not a positive finite number; a weight outside 0-1; a limit
    order without a positive limit price (or a market order with one); confidence outside 0-1; a
    second proposal for a symbol already proposed. Never raises for bad input.
    """
    known = {s.upper() for s in known_symbols}
    in_scope = {s.upper() for s in candidates} | {s.upper() for s in holdings}
    accepted: list[TradeProposal] = []
    dropped: list[DroppedProposal] = []
    seen: set[str] = set()
    for item in raw_items:
        raw = _as_dict(item)
        try:
            proposal = _check_one(raw, known=known, in_scope=in_scope)
            if proposal.symbol in seen:
                raise _Drop(f"a second proposal for {proposal.symbol} in the same decision")
        except _Drop as drop:
            dropped.append(DroppedProposal(raw=raw, reason=str(drop)))
            continue
        seen.add(proposal.symbol)
        accepted.append(proposal)
    return ProposalCheck(accepted=accepted, dropped=dropped)


def _as_dict(item: Any) -> dict[str, Any]:
    if isinstance(item, BaseModel):
        return item.model_dump(mode="json")
    if isinstance(item, Mapping):
        return dict(item)
    return {"value": repr(item)[:200]}


def _check_one(raw: dict[str, Any], *, known: set[str], in_scope: set[str]) -> TradeProposal:
    if "value" in raw and len(raw) == 1:
        raise _Drop("malformed: not an object")
    symbol = raw.get("symbol")
    if not isinstance(symbol, str) or not _SYMBOL.match(symbol.strip().upper()):
        raise _Drop(f"malformed symbol {symbol!r}")
    symbol = symbol.strip().upper()
    if symbol not in known:
        raise _Drop(f"unknown symbol {symbol}")
    if symbol not in in_scope:
        raise _Drop(f"{symbol} is outside this cycle's candidates and holdings")
    side = str(raw.get("side", "")).strip().lower()
    if side not in (Side.BUY.value, Side.SELL.value):
        raise _Drop(f"side must be buy or sell, got {raw.get('side')!r}")

    quantity = _number(raw.get("quantity"), "quantity")
    weight = _number(raw.get("target_weight"), "target_weight")
    if (quantity is None) == (weight is None):
        raise _Drop("exactly one of quantity and target_weight must be given")
    if quantity is not None and quantity <= 0:
        raise _Drop(f"quantity must be positive, got {quantity:g}")
    if weight is not None and not 0 <= weight <= 1:
        raise _Drop(f"target_weight must be between 0 and 1, got {weight:g}")

    order_type = str(raw.get("order_type") or "market").strip().lower()
    if order_type not in (OrderType.MARKET.value, OrderType.LIMIT.value):
        raise _Drop(f"order_type must be market or limit, got {raw.get('order_type')!r}")
    limit_price = _number(raw.get("limit_price"), "limit_price")
    if order_type == OrderType.LIMIT.value and (limit_price is None or limit_price <= 0):
        raise _Drop("a limit order needs a positive limit_price")
    if order_type == OrderType.MARKET.value and limit_price is not None:
        raise _Drop("a market order cannot carry a limit_price (ambiguous intent)")

    confidence = _number(raw.get("confidence"), "confidence")
    if confidence is None or not 0 <= confidence <= 1:
        raise _Drop(f"confidence must be between 0 and 1, got {raw.get('confidence')!r}")
    horizon = raw.get("horizon_days", 5)
    if isinstance(horizon, bool) or not isinstance(horizon, int | float) or horizon != int(horizon):
        raise _Drop(f"horizon_days must be a whole number, got {horizon!r}")
    evidence = raw.get("evidence_ids") or []
    if not isinstance(evidence, list) or not all(isinstance(e, str) for e in evidence):
        raise _Drop("evidence_ids must be a list of strings")
    try:
        return TradeProposal(
            symbol=symbol,
            side=Side(side),
            quantity=quantity,
            target_weight=weight,
            order_type=OrderType(order_type),
            limit_price=limit_price,
            confidence=confidence,
            horizon_days=int(horizon),
            rationale=str(raw.get("rationale") or "")[:MAX_RATIONALE_CHARS],
            evidence_ids=tuple(evidence[:MAX_EVIDENCE_IDS]),
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise _Drop(f"malformed {field}: {first['msg']}") from None


def _number(value: Any, name: str) -> float | None:
    if value is None:
        return None
    # bool is an int in Python; "true shares" is not a quantity.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Drop(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise _Drop(f"{name} must be finite, got {value!r}")
    return float(value)
