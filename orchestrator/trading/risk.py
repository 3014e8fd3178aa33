"""The risk manager: plain functions over plain values, no I/O.

`assess(proposal, inputs, limits)` sizes a `TradeProposal` (target weight -> whole shares) and
checks it against every limit, in this order:

1. kill switch (blocks everything, exits included)
2. allowed / blocked symbols
3. market hours (unless `trading_hours_only` is off)
4. limit price within `max_limit_deviation_pct` of the market
5. sizing; selling more than is held is clamped to the holding unless shorting is enabled
6. for entries (orders that grow a position): the daily-loss halt, max open positions
7. clamps, each recorded as a `ClampEvent(limit, symbol, before, after)`: max order notional
   (every order), then for entries max position weight after the trade, max gross exposure,
   the same two scaled down for the market regime (`regime_position_pct`,
   `regime_gross_exposure_pct`, when `REGIME_EXPOSURE_SCALE` gives the regime a factor below 1),
   and cash (no margin)

A clamp only ever lowers the quantity of the order it applies to; nothing it removes goes
anywhere else. A quantity clamped to zero blocks the order with the limit's name as the reason.
Exits (sells of a long, buys covering a short) are never halted by the daily-loss limit.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from orchestrator.config import parse_regime_scale
from orchestrator.domain import (
    ClampEvent,
    OrderType,
    PortfolioSnapshot,
    RiskVerdict,
    Side,
    TradeProposal,
    VerdictStatus,
)

# Float noise from weight arithmetic must not lose a whole share (9.999999 -> 10, not 9).
_SHARE_EPSILON = 1e-6


@dataclass(frozen=True)
class RiskLimits:
    max_position_pct: float = 10.0
    max_order_notional: float = 10_000.0
    max_gross_exposure_pct: float = 80.0
    max_daily_loss_pct: float = 3.0
    max_open_positions: int = 10
    max_limit_deviation_pct: float = 5.0
    allowed_symbols: frozenset[str] = frozenset()  # empty: any symbol
    blocked_symbols: frozenset[str] = frozenset()
    trading_hours_only: bool = True
    allow_shorting: bool = False
    # Regime label -> factor in [0, 1] applied to max position weight and max gross exposure.
    regime_scale: tuple[tuple[str, float], ...] = ()

    def scale_for(self, regime: str | None) -> float:
        """The exposure factor for a regime label; 1.0 for an unknown or missing label."""
        return dict(self.regime_scale).get(regime or "", 1.0)

    @classmethod
    def from_settings(cls, settings: Any) -> RiskLimits:
        """Limits from `orchestrator.config.Settings` (or anything with the same attributes)."""
        return cls(
            max_position_pct=settings.max_position_pct,
            max_order_notional=settings.max_order_notional,
            max_gross_exposure_pct=settings.max_gross_exposure_pct,
            max_daily_loss_pct=settings.max_daily_loss_pct,
            max_open_positions=settings.max_open_positions,
            max_limit_deviation_pct=settings.max_limit_deviation_pct,
            allowed_symbols=_upper_set(settings.allowed_symbols),
            blocked_symbols=_upper_set(settings.blocked_symbols),
            trading_hours_only=settings.trading_hours_only,
            allow_shorting=settings.allow_shorting,
            regime_scale=regime_scale_from_settings(settings),
        )


def regime_scale_from_settings(settings: Any) -> tuple[tuple[str, float], ...]:
    if not getattr(settings, "regime_scaling", True):
        return ()
    return parse_regime_scale(getattr(settings, "regime_exposure_scale", "") or "")


@dataclass(frozen=True)
class RiskInputs:
    """What the risk manager knows at the moment of the check."""

    portfolio: PortfolioSnapshot
    price: float  # the latest market price of the proposal's symbol
    market_open: bool
    day_start_equity: float | None = None
    kill_switch: bool = False
    entries_halted: bool = False  # a daily-loss halt already recorded for this session
    pending_buy_notional: float = 0.0  # cash already promised to open buy orders
    regime: str | None = None  # risk_on | neutral | risk_off | crisis; None when unknown


def _upper_set(symbols: Collection[str]) -> frozenset[str]:
    return frozenset(s.upper() for s in symbols)


def daily_loss_pct(equity: float, day_start_equity: float | None) -> float:
    """Today's loss as a percentage of the session's starting equity (0 when up or unknown)."""
    if not day_start_equity or day_start_equity <= 0:
        return 0.0
    return max(0.0, (day_start_equity - equity) / day_start_equity * 100.0)


def daily_loss_breached(equity: float, day_start_equity: float | None, limits: RiskLimits) -> bool:
    return daily_loss_pct(equity, day_start_equity) >= limits.max_daily_loss_pct


def whole_shares(quantity: float) -> float:
    return float(math.floor(quantity + _SHARE_EPSILON)) if quantity > 0 else 0.0


def size_proposal(proposal: TradeProposal, portfolio: PortfolioSnapshot, price: float) -> float:
    """Shares the proposal asks for (not yet limited); target weights use current equity."""
    if proposal.quantity is not None:
        return proposal.quantity
    weight = proposal.target_weight or 0.0
    position = portfolio.position(proposal.symbol)
    held_value = position.quantity * price if position else 0.0
    target_value = weight * portfolio.equity
    delta = target_value - held_value if proposal.side == Side.BUY else held_value - target_value
    return max(0.0, delta / price)


def assess(proposal: TradeProposal, inputs: RiskInputs, limits: RiskLimits) -> RiskVerdict:
    """Approve, resize or block one proposal. Pure: same inputs, same verdict."""
    symbol = proposal.symbol.upper()
    price = inputs.price
    if not math.isfinite(price) or price <= 0:
        raise ValueError(f"risk check for {symbol} needs a positive market price, got {price!r}")
    is_buy = proposal.side == Side.BUY
    # Notional at the worst price this order may pay (a buy limit above the market).
    order_price = price
    if proposal.order_type == OrderType.LIMIT and proposal.limit_price and is_buy:
        order_price = max(price, proposal.limit_price)

    def blocked(*reasons: str, quantity: float = 0.0) -> RiskVerdict:
        return RiskVerdict(
            status=VerdictStatus.BLOCKED,
            symbol=symbol,
            side=proposal.side,
            quantity=quantity,
            price=order_price,
            reasons=reasons,
            clamps=tuple(clamps),
        )

    clamps: list[ClampEvent] = []
    notes: dict[str, str] = {}  # limit -> why it stood where it did (regime scaling)
    if inputs.kill_switch:
        return blocked("kill switch is on: all trading is halted")
    if limits.allowed_symbols and symbol not in limits.allowed_symbols:
        return blocked(f"{symbol} is not in ALLOWED_SYMBOLS")
    if symbol in limits.blocked_symbols:
        return blocked(f"{symbol} is in BLOCKED_SYMBOLS")
    if limits.trading_hours_only and not inputs.market_open:
        return blocked("the market is closed (TRADING_HOURS_ONLY)")
    if proposal.order_type == OrderType.LIMIT:
        if not proposal.limit_price:
            return blocked("a limit order needs a limit price")
        deviation = abs(proposal.limit_price - price) / price * 100.0
        if deviation > limits.max_limit_deviation_pct:
            return blocked(
                f"limit price {proposal.limit_price:.2f} is {deviation:.1f}% from the market "
                f"{price:.2f} (max {limits.max_limit_deviation_pct:g}%)"
            )

    portfolio = inputs.portfolio
    equity = portfolio.equity
    position = portfolio.position(symbol)
    held = position.quantity if position else 0.0
    reasons: list[str] = []
    requested = size_proposal(proposal, portfolio, price)
    if proposal.target_weight is not None:
        reasons.append(
            f"sized from target weight {proposal.target_weight:.1%} of equity {equity:,.2f}"
        )
    quantity = whole_shares(requested)
    if proposal.quantity is not None and quantity < requested:
        clamps.append(
            ClampEvent(limit="whole_shares", symbol=symbol, before=requested, after=quantity)
        )
    if quantity <= 0:
        if proposal.target_weight is not None:
            return blocked(f"{symbol} is already at the target weight (nothing to trade)")
        return blocked("the order rounds to zero whole shares")

    signed = 1.0 if is_buy else -1.0
    if not is_buy and not limits.allow_shorting:
        if held <= 0:
            return blocked(f"no {symbol} position to sell and shorting is disabled")
        if quantity > held:
            clamps.append(
                ClampEvent(limit="no_shorting", symbol=symbol, before=quantity, after=held)
            )
            quantity = whole_shares(held) if held >= 1 else held  # a fractional holding exits whole
    # An entry grows the absolute position; an exit shrinks it (covering or selling a long).
    is_entry = abs(held + signed * quantity) > abs(held) + _SHARE_EPSILON

    def clamp(limit: str, max_quantity: float, why: str) -> str | None:
        nonlocal quantity
        allowed = whole_shares(max_quantity)
        if quantity <= allowed:
            return None
        clamps.append(ClampEvent(limit=limit, symbol=symbol, before=quantity, after=allowed))
        quantity = allowed
        return why if allowed <= 0 else None

    notional_cap = limits.max_order_notional / order_price
    if why := clamp("max_order_notional", notional_cap, "MAX_ORDER_NOTIONAL leaves no room"):
        return blocked(why)

    if is_entry:
        loss = daily_loss_pct(equity, inputs.day_start_equity)
        if inputs.entries_halted or loss >= limits.max_daily_loss_pct:
            return blocked(
                f"daily loss {loss:.2f}% reached MAX_DAILY_LOSS_PCT "
                f"{limits.max_daily_loss_pct:g}%: "
                "new entries are halted until the next session (exits are allowed)"
            )
        open_positions = sum(1 for p in portfolio.positions if abs(p.quantity) > _SHARE_EPSILON)
        if abs(held) <= _SHARE_EPSILON and open_positions >= limits.max_open_positions:
            return blocked(
                f"{open_positions} positions are open "
                f"(MAX_OPEN_POSITIONS {limits.max_open_positions})"
            )
        if equity <= 0:
            return blocked("account equity is not positive")
        position_cap = limits.max_position_pct / 100.0 * equity / price
        if why := clamp(
            "max_position_pct",
            position_cap - signed * held,
            f"{symbol} is already at MAX_POSITION_PCT {limits.max_position_pct:g}%",
        ):
            return blocked(why)
        gross_room = limits.max_gross_exposure_pct / 100.0 * equity - portfolio.gross_exposure
        flip_bonus = 2 * abs(held) if held * signed < 0 else 0.0
        if why := clamp(
            "max_gross_exposure_pct",
            gross_room / price + flip_bonus,
            f"gross exposure is at MAX_GROSS_EXPOSURE_PCT {limits.max_gross_exposure_pct:g}%",
        ):
            return blocked(why)
        scale = limits.scale_for(inputs.regime)
        if scale < 1.0:
            # The regime's own clamps come after the plain ones, so the record shows how much
            # of a cut is the regime's doing (the plain limit already applied above).
            position_pct = limits.max_position_pct * scale
            gross_pct = limits.max_gross_exposure_pct * scale
            notes["regime_position_pct"] = (
                f"regime {inputs.regime} scales MAX_POSITION_PCT "
                f"{limits.max_position_pct:g}% by {scale:g} to {position_pct:g}%"
            )
            notes["regime_gross_exposure_pct"] = (
                f"regime {inputs.regime} scales MAX_GROSS_EXPOSURE_PCT "
                f"{limits.max_gross_exposure_pct:g}% by {scale:g} to {gross_pct:g}%"
            )
            if why := clamp(
                "regime_position_pct",
                position_pct / 100.0 * equity / price - signed * held,
                f"{symbol} is at its {inputs.regime} regime limit: " + notes["regime_position_pct"],
            ):
                return blocked(why)
            if why := clamp(
                "regime_gross_exposure_pct",
                (gross_pct / 100.0 * equity - portfolio.gross_exposure) / price + flip_bonus,
                f"gross exposure is at its {inputs.regime} regime limit: "
                + notes["regime_gross_exposure_pct"],
            ):
                return blocked(why)
    if is_buy:
        spendable = portfolio.cash - inputs.pending_buy_notional
        if why := clamp(
            "cash", spendable / order_price, f"not enough cash ({spendable:,.2f}; no margin)"
        ):
            return blocked(why)

    for event in clamps:
        note = f" ({notes[event.limit]})" if event.limit in notes else ""
        reasons.append(f"{event.limit}: {event.before:g} -> {event.after:g} shares{note}")
    status = VerdictStatus.RESIZED if clamps else VerdictStatus.APPROVED
    return RiskVerdict(
        status=status,
        symbol=symbol,
        side=proposal.side,
        quantity=quantity,
        price=order_price,
        reasons=tuple(reasons),
        clamps=tuple(clamps),
    )
