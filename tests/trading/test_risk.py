"""Table-driven checks of every risk limit, with plain values."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from orchestrator.config import load_settings
from orchestrator.domain import (
    OrderType,
    PortfolioSnapshot,
    Position,
    Side,
    TradeProposal,
    VerdictStatus,
)
from orchestrator.trading.risk import RiskInputs, RiskLimits, assess, daily_loss_breached

NOW = datetime(2015, 3, 2, 15, 0, tzinfo=UTC)
LIMITS = RiskLimits(
    max_position_pct=10.0,
    max_order_notional=5_000.0,
    max_gross_exposure_pct=50.0,
    max_daily_loss_pct=3.0,
    max_open_positions=3,
    max_limit_deviation_pct=5.0,
)

# Position and exposure caps out of the way, so the cash limit is the one that binds.
ROOMY = replace(LIMITS, max_position_pct=100.0, max_gross_exposure_pct=200.0)


def pos(symbol: str, quantity: float, price: float = 100.0) -> Position:
    return Position(symbol=symbol, quantity=quantity, avg_price=price, market_price=price)


def book(cash: float = 100_000.0, *positions: Position) -> PortfolioSnapshot:
    return PortfolioSnapshot(as_of=NOW, cash=cash, positions=positions)


def buy(symbol: str = "AAPL", quantity: float | None = 10, **extra: object) -> TradeProposal:
    return TradeProposal(symbol=symbol, side=Side.BUY, quantity=quantity, confidence=0.7, **extra)


def sell(symbol: str = "AAPL", quantity: float | None = 10, **extra: object) -> TradeProposal:
    return TradeProposal(symbol=symbol, side=Side.SELL, quantity=quantity, confidence=0.7, **extra)


def inputs(portfolio: PortfolioSnapshot | None = None, price: float = 100.0, **extra: object):
    return RiskInputs(portfolio=portfolio or book(), price=price, market_open=True, **extra)


# (name, proposal, inputs, limits, status, quantity, clamp limits, reason fragment)
CASES = [
    (
        "plain buy within every limit",
        buy(quantity=10),
        inputs(),
        LIMITS,
        VerdictStatus.APPROVED,
        10,
        [],
        "",
    ),
    (
        "kill switch blocks a buy",
        buy(),
        inputs(kill_switch=True),
        LIMITS,
        VerdictStatus.BLOCKED,
        0,
        [],
        "kill switch",
    ),
    (
        "kill switch blocks an exit too",
        sell(quantity=5),
        inputs(book(1000, pos("AAPL", 5)), kill_switch=True),
        LIMITS,
        VerdictStatus.BLOCKED,
        0,
        [],
        "kill switch",
    ),
    (
        "symbol not in the allowed list",
        buy("MSFT"),
        inputs(),
        replace(LIMITS, allowed_symbols=frozenset({"AAPL"})),
        VerdictStatus.BLOCKED,
        0,
        [],
        "ALLOWED_SYMBOLS",
    ),
    (
        "blocked symbol",
        buy(),
        inputs(),
        replace(LIMITS, blocked_symbols=frozenset({"AAPL"})),
        VerdictStatus.BLOCKED,
        0,
        [],
        "BLOCKED_SYMBOLS",
    ),
    (
        "market closed",
        buy(),
        RiskInputs(portfolio=book(), price=100.0, market_open=False),
        LIMITS,
        VerdictStatus.BLOCKED,
        0,
        [],
        "market is closed",
    ),
    (
        "market closed but trading hours not enforced",
        buy(),
        RiskInputs(portfolio=book(), price=100.0, market_open=False),
        replace(LIMITS, trading_hours_only=False),
        VerdictStatus.APPROVED,
        10,
        [],
        "",
    ),
    (
        "limit far above the market",
        buy(order_type=OrderType.LIMIT, limit_price=110.0),
        inputs(),
        LIMITS,
        VerdictStatus.BLOCKED,
        0,
        [],
        "from the market",
    ),
    (
        "limit near the market",
        buy(order_type=OrderType.LIMIT, limit_price=102.0),
        inputs(),
        LIMITS,
        VerdictStatus.APPROVED,
        10,
        [],
        "",
    ),
    (
        "order notional clamped",
        buy(quantity=80),
        inputs(),
        LIMITS,
        VerdictStatus.RESIZED,
        50,
        ["max_order_notional"],
        "max_order_notional: 80 -> 50",
    ),
    (
        "position weight after the trade clamped",
        buy(quantity=40),
        inputs(book(93_000, pos("AAPL", 70))),
        replace(LIMITS, max_order_notional=1e9),
        VerdictStatus.RESIZED,
        30,
        ["max_position_pct"],
        "",
    ),
    (
        "position already at its cap",
        buy(quantity=5),
        inputs(book(90_000, pos("AAPL", 100))),
        LIMITS,
        VerdictStatus.BLOCKED,
        0,
        ["max_position_pct"],
        "MAX_POSITION_PCT",
    ),
    (
        "gross exposure clamped",
        buy("MSFT", quantity=150),
        inputs(book(50_000, pos("AAPL", 100), pos("JPM", 100), pos("XOM", 100))),
        replace(LIMITS, max_order_notional=1e9, max_open_positions=10, max_position_pct=100),
        VerdictStatus.RESIZED,
        100,
        ["max_gross_exposure_pct"],
        "",
    ),
    (
        "max open positions blocks a new symbol",
        buy("MSFT"),
        inputs(book(50_000, pos("AAPL", 1), pos("JPM", 1), pos("XOM", 1))),
        LIMITS,
        VerdictStatus.BLOCKED,
        0,
        [],
        "MAX_OPEN_POSITIONS",
    ),
    (
        "max open positions allows adding to a holding",
        buy("AAPL", quantity=2),
        inputs(book(50_000, pos("AAPL", 1), pos("JPM", 1), pos("XOM", 1))),
        LIMITS,
        VerdictStatus.APPROVED,
        2,
        [],
        "",
    ),
    (
        "cash clamps a buy (no margin)",
        buy(quantity=30),
        inputs(book(2_050, pos("JPM", 100))),
        ROOMY,
        VerdictStatus.RESIZED,
        20,
        ["cash"],
        "",
    ),
    (
        "cash already promised to open orders",
        buy(quantity=30),
        inputs(book(2_050, pos("JPM", 100)), pending_buy_notional=2_000),
        ROOMY,
        VerdictStatus.BLOCKED,
        0,
        ["cash"],
        "not enough cash",
    ),
    (
        "selling more than held is clamped (no shorting)",
        sell(quantity=50),
        inputs(book(1_000, pos("AAPL", 20))),
        LIMITS,
        VerdictStatus.RESIZED,
        20,
        ["no_shorting"],
        "",
    ),
    (
        "selling with no position is blocked",
        sell(),
        inputs(),
        LIMITS,
        VerdictStatus.BLOCKED,
        0,
        [],
        "shorting is disabled",
    ),
    (
        "shorting when enabled is an entry within limits",
        sell(quantity=200),
        inputs(),
        replace(LIMITS, allow_shorting=True),
        VerdictStatus.RESIZED,
        50,
        ["max_order_notional"],
        "",
    ),
    (
        "fractional quantity rounds down to whole shares",
        buy(quantity=2.5),
        inputs(),
        LIMITS,
        VerdictStatus.RESIZED,
        2,
        ["whole_shares"],
        "",
    ),
    (
        "target weight sizes to whole shares",
        buy(quantity=None, target_weight=0.03),
        inputs(),
        LIMITS,
        VerdictStatus.APPROVED,
        30,
        [],
        "target weight",
    ),
    (
        "target weight above the position cap is clamped",
        buy(quantity=None, target_weight=0.5),
        inputs(),
        replace(LIMITS, max_order_notional=1e9),
        VerdictStatus.RESIZED,
        100,
        ["max_position_pct"],
        "",
    ),
    (
        "target weight already reached",
        buy(quantity=None, target_weight=0.05),
        inputs(book(95_000, pos("AAPL", 50))),
        LIMITS,
        VerdictStatus.BLOCKED,
        0,
        [],
        "already at the target",
    ),
    (
        "sell to target weight zero exits the position",
        sell(quantity=None, target_weight=0.0),
        inputs(book(95_000, pos("AAPL", 40))),
        LIMITS,
        VerdictStatus.APPROVED,
        40,
        [],
        "",
    ),
    (
        "huge quantity is clamped by every limit in turn",
        buy(quantity=1e9),
        inputs(book(3_000)),
        LIMITS,
        VerdictStatus.RESIZED,
        3,
        ["max_order_notional", "max_position_pct"],
        "",
    ),
]


@pytest.mark.parametrize(
    ("proposal", "risk_inputs", "limits", "status", "quantity", "clamps", "reason"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_limit(proposal, risk_inputs, limits, status, quantity, clamps, reason) -> None:
    verdict = assess(proposal, risk_inputs, limits)
    assert verdict.status == status, verdict.reasons
    assert verdict.quantity == quantity
    assert [c.limit for c in verdict.clamps] == clamps
    if reason:
        assert any(reason in r for r in verdict.reasons), verdict.reasons
    for event in verdict.clamps:
        assert event.after < event.before  # a clamp only ever lowers the size


def test_a_clamp_removes_size_and_never_moves_it_elsewhere() -> None:
    verdict = assess(buy(quantity=80), inputs(), LIMITS)
    (event,) = verdict.clamps
    assert (event.before, event.after) == (80, 50)
    assert verdict.notional <= LIMITS.max_order_notional


# Daily-loss halt: equity 96,000 against a day start of 100,000 is a 4% loss (> 3%).
LOSING_BOOK = book(86_000, pos("AAPL", 100))


@pytest.mark.parametrize(
    ("proposal", "status"),
    [
        (buy("AAPL", 5), VerdictStatus.BLOCKED),
        (buy("MSFT", 5), VerdictStatus.BLOCKED),
        (sell("AAPL", 30), VerdictStatus.APPROVED),
    ],
    ids=["adding to a holding", "a new entry", "an exit"],
)
def test_daily_loss_halts_entries_but_not_exits(proposal, status) -> None:
    verdict = assess(proposal, inputs(LOSING_BOOK, day_start_equity=100_000.0), LIMITS)
    assert verdict.status == status
    if status == VerdictStatus.BLOCKED:
        assert "until the next session" in verdict.reasons[0]


def test_a_recorded_halt_blocks_entries_even_after_a_recovery() -> None:
    verdict = assess(buy(), inputs(day_start_equity=100_000.0, entries_halted=True), LIMITS)
    assert verdict.status == VerdictStatus.BLOCKED


def test_daily_loss_threshold() -> None:
    assert daily_loss_breached(96_900, 100_000, LIMITS) is True
    assert daily_loss_breached(97_100, 100_000, LIMITS) is False
    assert daily_loss_breached(50_000, None, LIMITS) is False


def test_limits_come_from_settings() -> None:
    settings = load_settings(
        max_order_notional=1234, blocked_symbols="tsla", allow_shorting=True, max_open_positions=2
    )
    limits = RiskLimits.from_settings(settings)
    assert limits.max_order_notional == 1234
    assert limits.blocked_symbols == frozenset({"TSLA"})
    assert limits.allow_shorting and limits.max_open_positions == 2
