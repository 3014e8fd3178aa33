"""Typed view models the service returns to every face (Telegram, console chat, CLI).

They carry numbers already computed; faces only format them (`bot/format.py`).
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict


class View(BaseModel):
    model_config = ConfigDict(frozen=True)


class StatusView(View):
    mode: str  # demo | paper | live
    broker: str  # sim | alpaca
    paper: bool
    kill_switch: bool
    paused: bool
    halted_reason: str = ""  # e.g. the daily-loss halt
    llm: str  # model name, or "offline rules engine"
    data_provider: str
    last_cycle_at: datetime | None = None
    last_cycle_status: str = ""
    next_cycle_at: datetime | None = None
    pending_approvals: int = 0
    regime: str = ""


class PositionView(View):
    symbol: str
    quantity: float
    avg_price: float
    market_price: float
    market_value: float
    unrealized_pl: float
    unrealized_pl_pct: float
    weight_pct: float


class PortfolioView(View):
    as_of: datetime
    cash: float
    equity: float
    gross_exposure_pct: float
    positions: tuple[PositionView, ...] = ()


class OrderView(View):
    client_order_id: str
    symbol: str
    side: str
    quantity: float
    order_type: str
    limit_price: float | None = None
    status: str
    filled_quantity: float = 0.0
    avg_fill_price: float | None = None
    submitted_at: datetime | None = None
    reason: str = ""


class EquityPoint(View):
    day: date
    equity: float


class PnlView(View):
    days: int
    start_equity: float
    end_equity: float
    change: float
    change_pct: float
    points: tuple[EquityPoint, ...] = ()


class PerformanceView(View):
    total_return_pct: float
    max_drawdown_pct: float
    trades: int
    decisions_evaluated: int
    hit_rate_pct: float | None = None
    hit_rate_by_signal: dict[str, float] = {}


class SentimentView(View):
    score: float
    label: str
    n_items: int
    engine: str


class ForecastView(View):
    symbol: str
    as_of: datetime
    prob_up: float
    expected_return_pct: float
    bin: str
    model: str
    llm_summary: str = ""  # the Forecaster's [Prediction & Analysis], when an LLM is set


class NewsView(View):
    published_at: datetime
    headline: str
    source: str = ""
    url: str = ""


class EvidenceView(View):
    title: str
    source: str
    published_at: datetime | None = None
    excerpt: str
    score: float


class AnalysisView(View):
    symbol: str
    as_of: datetime
    last_price: float
    signals: dict[str, float]  # factor name -> value (momentum, volatility, ...)
    forecast: ForecastView | None = None
    sentiment: SentimentView | None = None
    highlights: tuple[EvidenceView, ...] = ()
    notes: tuple[str, ...] = ()  # abstentions and data problems, said plainly


class ChartData(View):
    symbol: str
    dates: tuple[date, ...]
    close: tuple[float, ...]
    volume: tuple[float, ...]
    forecast_low: float | None = None  # band over the next horizon, as prices
    forecast_high: float | None = None
    trades: tuple[OrderView, ...] = ()


class ClampView(View):
    limit: str
    before: float
    after: float


class ApprovalView(View):
    id: str
    symbol: str
    side: str
    quantity: float
    price: float
    notional: float
    confidence: float
    rationale: str
    verdict: str  # approved | resized
    reasons: tuple[str, ...] = ()
    clamps: tuple[ClampView, ...] = ()
    status: str  # pending | approved | rejected | expired | executed | failed
    expires_at: datetime
    cycle_id: int | None = None
    # Trading area: how it ended (who, why, which order); empty while pending.
    order_type: str = "market"
    limit_price: float | None = None
    resolved_by: str = ""
    note: str = ""
    client_order_id: str | None = None


class ApprovalOutcome(View):
    approval: ApprovalView
    message: str  # what happened, in one sentence (e.g. "Bought 10 AAPL at 101.20")
    order: OrderView | None = None


class CycleSummary(View):
    cycle_id: int
    slot: str
    as_of: datetime
    status: str
    candidates: tuple[str, ...] = ()
    proposals: int = 0
    approved: int = 0
    resized: int = 0
    blocked: int = 0
    pending_approvals: int = 0
    orders: int = 0
    llm_calls: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0
    error: str = ""


class RiskView(View):
    limits: dict[str, str]
    kill_switch: bool
    paused: bool
    day_start_equity: float | None = None
    day_pl_pct: float | None = None
    halted_reason: str = ""
    # Trading area: regime label -> factor on position and gross-exposure limits.
    regime_scale: dict[str, float] = {}
    approval_policy: str = ""


class TradingStateView(View):
    """Trading area: the switches people flip, and the daily-loss halt."""

    kill_switch: bool
    paused: bool
    halted_reason: str = ""  # set while a daily-loss halt holds for this session
    day_start_equity: float | None = None
    updated_by: str = ""
    updated_at: datetime | None = None


class CostView(View):
    today_tokens: int
    today_cost_usd: float
    today_calls: int
    per_cycle: tuple[CycleSummary, ...] = ()
    by_task: dict[str, float] = {}  # task -> cost today


class LessonView(View):
    created_at: datetime
    symbol: str | None
    text: str


class AnswerView(View):
    text: str
    engine: str  # model name or "offline rules engine"
    tools_used: tuple[str, ...] = ()
    tokens: int = 0
    cost_usd: float = 0.0


class WeightsView(View):
    """One change of the decision's signal weights (or the defaults, with `since` None)."""

    since: datetime | None = None
    weights: dict[str, float]
    reason: str = ""
