"""Analysis for every face: screen the universe, a ticker's sentiment and forecast, and the
evaluations behind `fingpt eval sentiment|forecast|selection`.

Blocking work (pandas, model training, SQL) runs in a worker thread. Errors: unreadable input or
unknown tickers raise `DataError`, bad settings `ConfigError`; both are `UserFacingError`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from orchestrator.analysis import evaluation
from orchestrator.analysis.forecast import QuantForecaster, forecaster_facts, llm_forecast_detail
from orchestrator.analysis.selection import select_stocks
from orchestrator.analysis.sentiment import analyze_news_sentiment
from orchestrator.config import Settings, get_settings
from orchestrator.llm import CallContext, TokenBudget, llm_for_call
from orchestrator.service.data import market_data
from orchestrator.service.views import ForecastView, SentimentView, View
from orchestrator.store.db import get_engine

NEWS_WINDOW = timedelta(days=7)


class CandidateView(View):
    symbol: str
    score: float
    held: bool
    factors: dict[str, float]


class SelectionView(View):
    as_of: datetime
    screened: int
    passed_filters: int
    candidates: tuple[CandidateView, ...]
    excluded: dict[str, str]


class SentimentItemView(View):
    published_at: datetime
    headline: str
    label: str
    score: float
    cached: bool
    copies: int


class SentimentDetailView(View):
    symbol: str
    as_of: datetime
    sentiment: SentimentView
    items: tuple[SentimentItemView, ...]
    notes: tuple[str, ...] = ()


class SentimentEvalView(View):
    file: str
    items: int
    accuracy: float
    weighted_f1: float
    per_class_f1: dict[str, float]
    confusion: dict[str, dict[str, int]]
    items_per_second: float
    engine: str


class ForecastScoreView(View):
    name: str
    binary_accuracy: float
    bin_mse: float
    brier: float | None = None


class ForecastEvalView(View):
    tickers: int
    ticker_weeks: int
    weeks: int
    retrains: int
    start: date
    end: date
    benchmark: str
    up_rate: float
    seconds: float
    scores: tuple[ForecastScoreView, ...]
    skipped: tuple[str, ...] = ()


class SelectionEvalView(View):
    periods: int
    tickers: int
    top_decile_return_pct: float
    universe_return_pct: float
    excess_return_pct: float
    hit_rate: float
    seconds_per_screen: float
    start: date
    end: date


def _now(as_of: datetime | None) -> datetime:
    return as_of or datetime.now(UTC)


async def select(
    *,
    as_of: datetime | None = None,
    holdings: list[str] | None = None,
    settings: Settings | None = None,
) -> SelectionView:
    """The screener's candidates at `as_of` (default now) over UNIVERSE."""
    settings = settings or get_settings()
    moment = _now(as_of)
    result = await asyncio.to_thread(
        select_stocks,
        market_data(settings),
        list(settings.universe),
        as_of=moment,
        holdings=list(holdings or []),
        settings=settings,
    )
    return SelectionView(
        as_of=moment,
        screened=result.universe_size,
        passed_filters=result.passed_filters,
        candidates=tuple(
            CandidateView(symbol=c.symbol, score=c.score, held=c.held, factors=c.factors)
            for c in result.candidates
        ),
        excluded=result.excluded,
    )


async def sentiment(
    symbol: str, *, as_of: datetime | None = None, settings: Settings | None = None
) -> SentimentDetailView:
    """A ticker's news sentiment over the last week (one batched LLM call, cached per item)."""
    settings = settings or get_settings()
    moment, symbol = _now(as_of), symbol.strip().upper()
    engine = get_engine(settings)
    provider = market_data(settings)
    news = await asyncio.to_thread(
        provider.get_news, [symbol], as_of=moment, since=moment - NEWS_WINDOW
    )
    budget = TokenBudget(settings.llm_chat_turn_token_budget, name="sentiment token budget")
    async with llm_for_call(settings, engine) as llm:
        result = await analyze_news_sentiment(
            llm,
            engine,
            symbol,
            news,
            as_of=moment,
            context=CallContext(budget=budget, as_of=moment),
        )
    s = result.sentiment
    return SentimentDetailView(
        symbol=symbol,
        as_of=moment,
        sentiment=SentimentView(score=s.score, label=s.label, n_items=s.n_items, engine=s.engine),
        items=tuple(
            SentimentItemView(
                published_at=i.published_at,
                headline=i.headline,
                label=i.label,
                score=i.score,
                cached=i.cached,
                copies=i.copies,
            )
            for i in result.items
        ),
        notes=tuple(result.notes),
    )


async def forecast(
    symbol: str,
    *,
    as_of: datetime | None = None,
    with_llm: bool = True,
    settings: Settings | None = None,
    runtime: Any = None,
) -> ForecastView | None:
    """The quantitative 5-day forecast, with the LLM Forecaster's analysis when an LLM is set.
    None when there is too little history to forecast; `DataError` for an unknown ticker.
    With `runtime` (the service facade's), its database, data provider and LLM are used."""
    settings = settings or (runtime.settings if runtime is not None else get_settings())
    moment, symbol = _now(as_of), symbol.strip().upper()
    engine = runtime.engine if runtime is not None else get_engine(settings)
    provider = runtime.market_data if runtime is not None else market_data(settings)
    llm = runtime.llm if runtime is not None else None
    # An unknown ticker is the user's typo, not "too little history": say so.
    await asyncio.to_thread(provider.get_quote, symbol, as_of=moment)
    model = QuantForecaster.for_settings(settings, engine, provider)
    quant = await asyncio.to_thread(model.predict, symbol, moment)
    if quant is None:
        return None
    summary = ""
    if with_llm and settings.llm_enabled:
        facts = await asyncio.to_thread(forecaster_facts, provider, symbol, moment)
        facts["quant_forecast"] = {
            "bin": quant.bin,
            "prob_up": quant.prob_up,
            "expected_return_pct": round(100 * quant.expected_return, 2),
        }
        budget = TokenBudget(settings.llm_chat_turn_token_budget, name="forecast token budget")
        async with llm_for_call(settings, engine, llm) as forecaster_llm:
            detail = await llm_forecast_detail(
                forecaster_llm,
                symbol,
                facts,
                [],
                as_of=moment,
                context=CallContext(budget=budget, as_of=moment),
            )
        if detail.answer is not None and detail.forecast is not None:
            summary = f"{detail.forecast.bin}: {detail.answer.analysis}"
        else:
            summary = f"(LLM forecaster abstained: {detail.abstained_reason})"
    return ForecastView(
        symbol=symbol,
        as_of=moment,
        prob_up=quant.prob_up,
        expected_return_pct=round(100 * quant.expected_return, 3),
        bin=quant.bin,
        model=quant.model,
        llm_summary=summary,
    )


# --- evaluations -----------------------------------------------------------------------------
async def evaluate_sentiment(file: Path, *, label_map: str | None = None) -> SentimentEvalView:
    """Offline lexicon engine on a `text,label` CSV."""

    def run() -> evaluation.SentimentEval:
        rows = evaluation.read_labelled(file, evaluation.parse_label_map(label_map))
        return evaluation.evaluate_sentiment(rows)

    result = await asyncio.to_thread(run)
    return SentimentEvalView(file=str(file), **vars(result))


async def evaluate_forecast(
    data_dir: Path,
    start: date,
    end: date,
    *,
    tickers: list[str] | None = None,
    retrain_sessions: int = 21,
    on_progress: Callable[[int, int], None] | None = None,
) -> ForecastEvalView:
    """Walk-forward weekly forecasts against always-up and last-week-momentum baselines."""
    result = await asyncio.to_thread(
        evaluation.evaluate_forecast,
        data_dir,
        start,
        end,
        tickers,
        retrain_sessions=retrain_sessions,
        on_progress=on_progress,
    )
    fields = {k: v for k, v in vars(result).items() if k not in ("scores", "skipped")}
    return ForecastEvalView(
        **fields,
        scores=tuple(ForecastScoreView(**vars(s)) for s in result.scores),
        skipped=tuple(result.skipped),
    )


async def evaluate_selection(
    data_dir: Path,
    start: date,
    end: date,
    *,
    tickers: list[str] | None = None,
    settings: Settings | None = None,
) -> SelectionEvalView:
    """Forward 20-session return of the screener's top decile against the universe mean."""
    settings = settings or get_settings()
    result = await asyncio.to_thread(
        evaluation.evaluate_selection,
        data_dir,
        start,
        end,
        min_price=settings.min_price,
        min_avg_dollar_volume=settings.min_avg_dollar_volume,
        tickers=tickers,
    )
    return SelectionEvalView(
        periods=result.periods,
        tickers=result.tickers,
        top_decile_return_pct=round(100 * result.top_decile_return, 3),
        universe_return_pct=round(100 * result.universe_return, 3),
        excess_return_pct=round(100 * result.excess_return, 3),
        hit_rate=result.hit_rate,
        seconds_per_screen=result.seconds_per_screen,
        start=result.start,
        end=result.end,
    )
