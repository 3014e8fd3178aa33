"""Gather and analyse: one compact `Brief` per candidate, built concurrently.

Per ticker: recent bars (momentum, returns), news since the lookback (one batched sentiment call,
cached per item), the quantitative 5-day forecast, an LLM forecast, and a few retrieved
passages. That is at most two LLM calls per ticker here plus the shared decision call, which is
how a ticker decision stays within ~3 calls and ~6k tokens.

Failure contract: a ticker whose data or analysis fails gets `error` set on its candidate record
and no brief; the others go on. `BudgetExceeded` is not a ticker failure: it propagates so the
cycle stops cleanly.

With `ANALYSIS_WORKERS=true` and `REDIS_URL` set, tickers are analysed by `fingpt worker`
processes through the work queue (job type `analyze_ticker`); the same `analyze_ticker` runs
either way, so a brief never depends on where it was built.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from orchestrator.analysis.forecast import BAR_LOOKBACK as FORECASTER_BAR_LOOKBACK
from orchestrator.analysis.forecast import (
    QuantForecaster,
    forecaster_facts,
    forecaster_news,
    llm_forecast_detail,
)
from orchestrator.analysis.sentiment import analyze_news_sentiment
from orchestrator.cycle_record import CandidateRecord
from orchestrator.decision import HEADLINE_CHARS, MAX_HEADLINES, Brief, momentum_signal
from orchestrator.domain import Forecast, NewsItem
from orchestrator.errors import BudgetExceeded
from orchestrator.llm import CallContext, TokenBudget
from orchestrator.monitoring import bind_log_context
from orchestrator.runtime import Runtime
from orchestrator.store import feedback as feedback_store
from orchestrator.store.db import session_scope
from orchestrator.workqueue import register_job_handler, register_worker_cleanup

log = logging.getLogger(__name__)

# Calendar days of bars fetched: 20 sessions of momentum plus room for holidays. The Forecaster's
# weekly moves are computed from the same bars, so the span is at least what they need.
BAR_LOOKBACK = max(timedelta(days=45), FORECASTER_BAR_LOOKBACK)
# Sentiment looks at a week of news; items are classified once and cached, so re-reading is cheap.
NEWS_WINDOW = timedelta(days=7)
NEWS_LIMIT = 20
EVIDENCE_HITS = 2
EVIDENCE_CHARS = 200
LESSONS_PER_CYCLE = 6


async def analyze_candidates(
    runtime: Runtime,
    candidates: Sequence[CandidateRecord],
    holdings: dict[str, float],
    *,
    as_of: datetime,
    since: datetime,
    context: CallContext,
) -> list[Brief]:
    """Briefs for the candidates that could be analysed (failures recorded on the candidate).
    News fetched since `since` is added to the knowledge base."""
    if runtime.work_queue is not None and runtime.settings.analysis_workers:
        results = await _analyse_on_workers(runtime, candidates, as_of=as_of, context=context)
    else:
        semaphore = asyncio.Semaphore(runtime.settings.max_concurrency)

        async def bounded(symbol: str) -> Brief:
            async with semaphore:
                return await analyze_ticker(runtime, symbol, as_of=as_of, context=context)

        results = await asyncio.gather(
            *(bounded(c.symbol) for c in candidates), return_exceptions=True
        )
    briefs: list[Brief] = []
    for candidate, result in zip(candidates, results, strict=True):
        if isinstance(result, BudgetExceeded):
            raise result
        if isinstance(result, BaseException):
            candidate.error = f"{type(result).__name__}: {result}"
            log.warning("analysis of %s failed: %s", candidate.symbol, candidate.error)
            continue
        brief = result.model_copy(update={"held_quantity": holdings.get(candidate.symbol, 0.0)})
        candidate.price = brief.price
        candidate.signals = dict(brief.signals)
        candidate.facts = dict(brief.facts)
        candidate.notes.extend(brief.notes)
        briefs.append(brief)
    await _remember_news(runtime, [c.symbol for c in candidates], as_of=as_of, since=since)
    return briefs


async def analyze_ticker(
    runtime: Runtime, symbol: str, *, as_of: datetime, context: CallContext
) -> Brief:
    """Everything the decision needs to know about `symbol` at `as_of`, nothing dated later."""
    with bind_log_context(ticker=symbol):
        return await _analyze_ticker(runtime, symbol, as_of=as_of, context=context)


async def _analyze_ticker(
    runtime: Runtime, symbol: str, *, as_of: datetime, context: CallContext
) -> Brief:
    # One thread hop for the reads: with 50 tickers in flight, each hop waits for the loop.
    bars, news, facts = await asyncio.to_thread(_read_market, runtime, symbol, as_of)
    # Sentiment reads the last week; the Forecaster's weekly moves read all of `news`.
    recent = [item for item in news if item.published_at > as_of - NEWS_WINDOW][:NEWS_LIMIT]
    signals = {"momentum": round(momentum_signal(float(facts["return_20d_pct"]) / 100), 4)}
    notes: list[str] = []

    # The sentiment call is sent first; the quantitative forecast, the Forecaster's inputs and
    # the retrieved passages are worked out while it is in flight (with 50 tickers at once,
    # CPU work done during the wait is CPU work that does not add to the cycle's wall time).
    sentiment, (forecast, background, (evidence_ids, passages)) = await asyncio.gather(
        analyze_news_sentiment(
            runtime.llm, runtime.engine, symbol, recent, as_of=as_of, context=context
        ),
        asyncio.to_thread(_local_analysis, runtime, symbol, as_of, bars, news),
    )
    facts["news_count"] = sentiment.sentiment.n_items
    if sentiment.sentiment.n_items:
        signals["sentiment"] = round(sentiment.sentiment.score, 4)
        facts["sentiment"] = sentiment.sentiment.label

    if forecast is not None:
        signals["forecast"] = round(2 * (forecast.prob_up - 0.5), 4)
        facts["forecast_bin"] = forecast.bin
        facts["forecast_prob_up"] = round(forecast.prob_up, 3)
        facts["forecast_expected_return_pct"] = round(100 * forecast.expected_return, 2)
    else:
        notes.append("no quantitative forecast (not enough history)")

    headlines = [_headline(item) for item in recent[:MAX_HEADLINES]]
    if background is not None:
        opinion = await llm_forecast_detail(
            runtime.llm, symbol, {**facts, **background}, headlines, as_of=as_of, context=context
        )
        if opinion.forecast is not None:
            signals["llm_forecast"] = round(2 * (opinion.forecast.prob_up - 0.5), 4)
            facts["llm_forecast_bin"] = opinion.forecast.bin
        elif opinion.abstained_reason:
            notes.append(f"LLM forecast abstained: {opinion.abstained_reason}")

    return Brief(
        symbol=symbol,
        price=float(bars["close"].iloc[-1]),
        signals=signals,
        facts=facts,
        headlines=headlines + passages,
        evidence_ids=[item.id for item in recent[:MAX_HEADLINES]] + evidence_ids,
        notes=notes,
    )


def _read_market(
    runtime: Runtime, symbol: str, as_of: datetime
) -> tuple[pd.DataFrame, list[NewsItem], dict[str, float | str]]:
    """Bars of the lookback, the news the analysis reads (a week for sentiment; the Forecaster's
    four weeks when there is an LLM) and the price facts of `symbol` known at `as_of`."""
    market = runtime.market_data
    start = (as_of - BAR_LOOKBACK).date()
    bars = market.get_bars([symbol], start, as_of.date(), as_of=as_of)[symbol]
    if runtime.llm.offline:
        news = market.get_news([symbol], as_of=as_of, since=as_of - NEWS_WINDOW, limit=NEWS_LIMIT)
    else:
        news = forecaster_news(market, symbol, as_of)
    return bars, news, price_facts(bars)


def price_facts(bars: pd.DataFrame) -> dict[str, float | str]:
    """Returns over 1, 5 and 20 sessions and 20-session volatility, in percent."""
    close = bars["close"].to_numpy(dtype=float)  # numpy: pandas' per-call overhead was most of it
    if len(close) < 2:
        raise ValueError(f"only {len(close)} bar(s) before as_of; need at least 2")

    def change(sessions: int) -> float:
        base = close[max(0, len(close) - 1 - sessions)]
        return round(100 * (float(close[-1]) / float(base) - 1), 2)

    daily = close[1:] / close[:-1] - 1
    daily = daily[~np.isnan(daily)][-20:]
    volatility = float(daily.std(ddof=1)) * math.sqrt(252) * 100 if len(daily) > 1 else 0.0
    return {
        "last_session": str(bars.index[-1].date()),
        "return_1d_pct": change(1),
        "return_5d_pct": change(5),
        "return_20d_pct": change(20),
        "volatility_20d_pct": round(volatility, 1),
    }


def forecaster(runtime: Runtime) -> QuantForecaster:
    """The runtime's quantitative forecaster, created on first use (it loads or trains models)."""
    if runtime.forecaster is None:
        runtime.forecaster = QuantForecaster.for_settings(
            runtime.settings, runtime.engine, runtime.market_data
        )
    return runtime.forecaster  # type: ignore[no-any-return]


def lessons_for(runtime: Runtime, symbols: Sequence[str], as_of: datetime) -> list[str]:
    """The newest lessons about these symbols or the market in general, known at `as_of`."""
    with session_scope(runtime.engine) as session:
        rows = feedback_store.recent_lessons(
            session, limit=LESSONS_PER_CYCLE, symbols=list(symbols), before=as_of
        )
        return [f"{row.symbol + ': ' if row.symbol else ''}{row.text}" for row in rows]


def _headline(item: NewsItem) -> str:
    # Marked as outside text: the decision prompt treats it as data, never as instructions.
    text = item.headline.replace("\n", " ").strip()[:HEADLINE_CHARS]
    return f"[news {item.published_at:%Y-%m-%d}] {text}"


def retrieve(runtime: Runtime, symbol: str, as_of: datetime, k: int) -> list[Any]:
    """The knowledge base's best `k` passages about `symbol` known at `as_of`; none when there is
    no knowledge base or retrieval fails (it is an extra: its failure must not cost the ticker)."""
    if runtime.knowledge is None:
        return []
    try:
        return list(
            runtime.knowledge.search(
                f"{symbol} outlook guidance earnings risks", as_of=as_of, tickers=[symbol], k=k
            )
        )
    except Exception as exc:
        log.warning("retrieval for %s failed: %s", symbol, exc)
        return []


def _local_analysis(
    runtime: Runtime, symbol: str, as_of: datetime, bars: pd.DataFrame, news: list[NewsItem]
) -> tuple[Forecast | None, dict[str, Any] | None, tuple[list[str], list[str]]]:
    """The quantitative forecast, the LLM Forecaster's inputs (None when there is no LLM: the
    offline engine has no Forecaster, it would abstain) and the retrieved passages."""
    forecast = forecaster(runtime).predict(symbol, as_of)
    # FinGPT-Forecaster's inputs: profile, the last 4 weeks' moves with their headlines, basic
    # financials, next to our price facts and the quantitative forecast.
    background = (
        None
        if runtime.llm.offline
        else forecaster_facts(runtime.market_data, symbol, as_of, news=news, bars=bars)
    )
    return forecast, background, _evidence(runtime, symbol, as_of)


def _evidence(runtime: Runtime, symbol: str, as_of: datetime) -> tuple[list[str], list[str]]:
    """A few retrieved passages (filings, transcripts, our past decisions) about `symbol`."""
    hits = retrieve(runtime, symbol, as_of, EVIDENCE_HITS)
    ids = [hit.doc_id for hit in hits]
    passages = [
        f"[{hit.doc_type} {hit.published_at:%Y-%m-%d}] "
        + " ".join(hit.text.split())[:EVIDENCE_CHARS]
        for hit in hits
    ]
    return ids, passages


async def _remember_news(
    runtime: Runtime, symbols: Sequence[str], *, as_of: datetime, since: datetime
) -> None:
    """Add the news that arrived since the last cycle to the knowledge base."""
    if runtime.knowledge is None or not symbols:
        return
    from orchestrator.analysis.rag.feed import ingest_news

    try:
        items = await asyncio.to_thread(
            runtime.market_data.get_news, list(symbols), as_of=as_of, since=since, limit=200
        )
        await ingest_news(runtime.knowledge, items)
    except Exception as exc:  # a knowledge-base hiccup must not fail the trading cycle
        runtime.notes.append(f"news not added to the knowledge base: {exc}")


# --- scale-out through `fingpt worker` ------------------------------------------------------

_LOCAL_RUNTIMES: dict[int, Runtime] = {}
_WORKER_RUNTIME: Runtime | None = None


async def _analyse_on_workers(
    runtime: Runtime,
    candidates: Sequence[CandidateRecord],
    *,
    as_of: datetime,
    context: CallContext,
) -> list[Brief | BaseException]:
    _LOCAL_RUNTIMES[id(runtime)] = runtime
    budget = context.budget
    share = max(1, budget.remaining // max(1, len(candidates))) if budget else None
    payloads = [
        {
            "symbol": c.symbol,
            "as_of": as_of.isoformat(),
            "cycle_id": context.cycle_id,
            "token_budget": share,
            "runtime_key": id(runtime),
        }
        for c in candidates
    ]
    timeout = 120 + 30 * len(candidates) / runtime.settings.max_concurrency
    results = await runtime.work_queue.run_batch(
        "analyze_ticker", payloads, timeout_seconds=timeout
    )
    out: list[Brief | BaseException] = []
    for result in results:
        if not result.ok:
            if "BudgetExceeded" in (result.error or ""):
                out.append(BudgetExceeded(result.error))
            else:
                out.append(RuntimeError(result.error or "worker failed"))
            continue
        assert result.result is not None  # ok results always carry one
        if budget is not None:
            budget.spend(int(result.result.get("tokens", 0)))
        brief = Brief.model_validate(result.result["brief"])
        out.append(
            brief.model_copy(update={"notes": [*brief.notes, f"analysed by {result.worker}"]})
        )
    return out


async def _analyze_ticker_job(payload: dict[str, Any]) -> dict[str, Any]:
    """Job handler: in the cycle's own process it reuses that runtime; in `fingpt worker` it
    builds one from the environment's settings on the first job."""
    global _WORKER_RUNTIME
    runtime = _LOCAL_RUNTIMES.get(int(payload.get("runtime_key") or 0))
    if runtime is None:
        if _WORKER_RUNTIME is None:
            from orchestrator.config import get_settings
            from orchestrator.runtime import build_runtime

            _WORKER_RUNTIME = await build_runtime(get_settings(), with_broker=False)
        runtime = _WORKER_RUNTIME
    limit = payload.get("token_budget")
    budget = TokenBudget(int(limit), name="cycle token budget") if limit is not None else None
    context = CallContext(
        cycle_id=payload.get("cycle_id"),
        budget=budget,
        as_of=datetime.fromisoformat(payload["as_of"]),
    )
    brief = await analyze_ticker(
        runtime, payload["symbol"], as_of=datetime.fromisoformat(payload["as_of"]), context=context
    )
    return {"brief": brief.model_dump(mode="json"), "tokens": budget.spent if budget else 0}


async def _close_worker_runtime() -> None:
    """A stopping `fingpt worker` closes the runtime its jobs built (HTTP clients, database)."""
    global _WORKER_RUNTIME
    runtime, _WORKER_RUNTIME = _WORKER_RUNTIME, None
    if runtime is not None:
        await runtime.close()


register_job_handler("analyze_ticker", _analyze_ticker_job)
register_worker_cleanup(_close_worker_runtime)
