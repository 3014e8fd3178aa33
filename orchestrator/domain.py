"""Value types shared by every layer. Imports nothing of the project.

Times are tz-aware `datetime` (UTC unless stated), session dates are `datetime.date`.
Money is in the account currency as `float`; quantities are shares as `float` (fractional allowed).
"""

from __future__ import annotations

from datetime import date, datetime, time
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

EXCHANGE_TZ = ZoneInfo("America/New_York")
# A daily bar is only known once its session has closed; 16:00 New York is the regular close.
SESSION_CLOSE = time(16, 0)


def _require_aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("datetime must be timezone-aware")
    return value


def daily_bar_known(session: date, as_of: datetime) -> bool:
    """True when the daily bar of `session` had closed by `as_of` (point-in-time rule)."""
    local = as_of.astimezone(EXCHANGE_TZ)
    return session < local.date() or (session == local.date() and local.time() >= SESSION_CLOSE)


def session_close(session: date) -> datetime:
    """The tz-aware moment a session's daily bar becomes known."""
    return datetime.combine(session, SESSION_CLOSE, tzinfo=EXCHANGE_TZ)


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Quote(Frozen):
    symbol: str
    price: float = Field(gt=0)
    timestamp: datetime
    bid: float | None = None
    ask: float | None = None

    _aware = field_validator("timestamp")(_require_aware)


class NewsItem(Frozen):
    """A dated piece of outside text. Its words are data, never instructions."""

    id: str
    symbols: tuple[str, ...]
    published_at: datetime
    headline: str
    summary: str = ""
    source: str = ""
    url: str = ""

    _aware = field_validator("published_at")(_require_aware)


class CompanyProfile(Frozen):
    symbol: str
    name: str
    sector: str = ""
    industry: str = ""
    description: str = ""
    exchange: str = ""


class Fundamentals(Frozen):
    """Basic figures; any may be unknown (None) for a provider that lacks them."""

    symbol: str
    as_of: datetime
    market_cap: float | None = None
    pe_ratio: float | None = None
    eps: float | None = None
    dividend_yield: float | None = None
    beta: float | None = None
    week52_high: float | None = None
    week52_low: float | None = None
    avg_volume: float | None = None


SentimentLabel = Literal["positive", "negative", "neutral"]


class Sentiment(Frozen):
    """A ticker's aggregated news sentiment at `as_of`: score in [-1, 1]."""

    symbol: str
    as_of: datetime
    score: float = Field(ge=-1, le=1)
    label: SentimentLabel
    n_items: int = Field(ge=0)
    engine: str = ""


class Forecast(Frozen):
    """A 5-trading-day view: probability of an up move and the expected return (fraction)."""

    symbol: str
    as_of: datetime
    horizon_days: int = 5
    prob_up: float = Field(ge=0, le=1)
    expected_return: float
    bin: str  # FinGPT bins: U1..U5, U5+, D1..D5, D5+
    model: str = ""


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"


class TradeProposal(Frozen):
    """What the decision step wants. Code (the risk manager) decides what, if anything, happens."""

    symbol: str
    side: Side
    quantity: float | None = Field(None, gt=0)
    target_weight: float | None = Field(None, ge=0, le=1)
    order_type: OrderType = OrderType.MARKET
    limit_price: float | None = Field(None, gt=0)
    confidence: float = Field(ge=0, le=1)
    horizon_days: int = Field(5, ge=1, le=365)
    rationale: str = ""
    evidence_ids: tuple[str, ...] = ()


class ClampEvent(Frozen):
    """One limit that changed a proposal: which limit, and the quantity before and after."""

    limit: str
    symbol: str
    before: float
    after: float


class VerdictStatus(StrEnum):
    APPROVED = "approved"
    RESIZED = "resized"
    BLOCKED = "blocked"


class RiskVerdict(Frozen):
    status: VerdictStatus
    symbol: str
    side: Side
    quantity: float = Field(ge=0)
    price: float = Field(gt=0)
    reasons: tuple[str, ...] = ()
    clamps: tuple[ClampEvent, ...] = ()

    @property
    def notional(self) -> float:
        return self.quantity * self.price


class OrderStatus(StrEnum):
    NEW = "new"
    SUBMITTED = "submitted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"


class Order(Frozen):
    client_order_id: str
    symbol: str
    side: Side
    quantity: float = Field(gt=0)
    order_type: OrderType = OrderType.MARKET
    limit_price: float | None = None
    status: OrderStatus = OrderStatus.NEW
    broker_order_id: str | None = None
    filled_quantity: float = 0.0
    avg_fill_price: float | None = None
    submitted_at: datetime | None = None
    reason: str = ""


class Fill(Frozen):
    client_order_id: str
    symbol: str
    side: Side
    quantity: float = Field(gt=0)
    price: float = Field(gt=0)
    fee: float = 0.0
    timestamp: datetime


class Position(Frozen):
    symbol: str
    quantity: float
    avg_price: float
    market_price: float

    @property
    def market_value(self) -> float:
        return self.quantity * self.market_price

    @property
    def unrealized_pl(self) -> float:
        return (self.market_price - self.avg_price) * self.quantity


class PortfolioSnapshot(Frozen):
    as_of: datetime
    cash: float
    positions: tuple[Position, ...] = ()

    @property
    def equity(self) -> float:
        return self.cash + sum(p.market_value for p in self.positions)

    @property
    def gross_exposure(self) -> float:
        return sum(abs(p.market_value) for p in self.positions)

    def position(self, symbol: str) -> Position | None:
        return next((p for p in self.positions if p.symbol == symbol), None)
