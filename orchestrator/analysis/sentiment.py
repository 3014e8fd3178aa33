"""News sentiment of a ticker: classify each item once, in one batched call, then aggregate.

Steps of `analyze_news_sentiment`:
1. Items published after `as_of` are dropped (point in time). The newest `MAX_ITEMS` remain.
2. De-duplication: items whose normalised text (`lexicon.normalise_text` of the headline, plus
   the summary when there is one) is the same, e.g. a repeated headline or a retweet, are one item;
   it keeps its newest publication time and the number of copies.
3. Cache: a classification is stored per (sha256 of the normalised text, engine) in
   `sentiment_item`; only texts not stored yet are sent. So an item is never classified twice.
4. One `llm.structured("sentiment", template="sentiment", ...)` call labels all uncached items
   (positive / negative / neutral and a score in [-1, 1], FinGPT-style). With the offline engine
   the registered handler answers with the finance lexicon (`orchestrator.analysis.lexicon`).
   Items the model leaves out, or all of them when it abstains, fall back to the lexicon and the
   note says so; lexicon answers are cached under the lexicon's engine name.
5. Aggregate: score = sum(w_i * s_i) / sum(w_i) with w_i = 0.5 ** (age_i / `HALF_LIFE`), age
   measured from `as_of` to the item's newest copy. Label: positive above `LABEL_THRESHOLD`,
   negative below minus it, else neutral. `n_items` counts distinct items.

Failure contract: `BudgetExceeded` propagates (the cycle stops cleanly); a model failure falls back
to the lexicon with the reason in `SentimentResult.notes`; database errors propagate.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine
from sqlmodel import Session

from orchestrator.analysis.lexicon import default_lexicon, normalise_text
from orchestrator.domain import NewsItem, Sentiment, SentimentLabel
from orchestrator.llm import CallContext, LLMClient, register_offline_handler
from orchestrator.store import analysis as store
from orchestrator.store.batch import batcher_for
from orchestrator.tools.registry import UNTRUSTED_NOTICE, strip_untrusted, untrusted

MAX_ITEMS = 40  # a week of a busy ticker's headlines; bounds the tokens of one call
HALF_LIFE = timedelta(hours=48)  # yesterday's news counts ~70 %, last week's ~9 %
LABEL_THRESHOLD = 0.15  # below this the aggregate is too weak to call a direction
ITEM_CHARS = 400  # headline + the start of a summary is enough to judge the tone


class ItemAnswer(BaseModel):
    id: str = Field(description="The item's id as given")
    label: Literal["positive", "negative", "neutral"]
    score: float = Field(ge=-1, le=1, description="-1 very negative .. 1 very positive")


class SentimentAnswer(BaseModel):
    """The model's answer: one label per item."""

    items: list[ItemAnswer]


@dataclass(frozen=True)
class ItemSentimentResult:
    id: str
    headline: str
    published_at: datetime
    label: SentimentLabel
    score: float
    engine: str
    cached: bool  # answered from the store, not classified again
    copies: int = 1  # how many of the given items had this text


@dataclass
class SentimentResult:
    sentiment: Sentiment
    items: list[ItemSentimentResult]
    llm_calls: int = 0
    tokens: int = 0
    notes: list[str] = field(default_factory=list)


def text_of(item: NewsItem) -> str:
    text = item.headline if not item.summary else f"{item.headline}. {item.summary}"
    return text[:ITEM_CHARS]


def text_hash(text: str) -> str:
    return hashlib.sha256(normalise_text(text).encode()).hexdigest()


def engine_name(llm: LLMClient) -> str:
    """The cache key of whoever classifies: the lexicon offline, else the sentiment model."""
    if llm.offline:
        return default_lexicon().engine
    settings = getattr(llm, "settings", None)
    return settings.model_for("sentiment") if settings is not None else llm.label


def offline_sentiment(variables: dict[str, Any], schema: type[Any]) -> SentimentAnswer:
    """The offline engine's answer to the sentiment task: the lexicon on each item."""
    lexicon = default_lexicon()
    answers = []
    for item in variables.get("items", []):
        result = lexicon.classify(strip_untrusted(str(item["text"])))
        answers.append(ItemAnswer(id=str(item["id"]), label=result.label, score=result.score))
    return SentimentAnswer(items=answers)


register_offline_handler("sentiment", offline_sentiment)


def aggregate(
    symbol: str, items: Sequence[ItemSentimentResult], as_of: datetime, engine: str
) -> Sentiment:
    """Recency-weighted mean score (see the module docstring)."""
    if not items:
        return Sentiment(
            symbol=symbol, as_of=as_of, score=0.0, label="neutral", n_items=0, engine=engine
        )
    half_life = HALF_LIFE.total_seconds()
    weights = [
        0.5 ** (max(0.0, (as_of - i.published_at).total_seconds()) / half_life) for i in items
    ]
    total = sum(weights)
    score = sum(w * i.score for w, i in zip(weights, items, strict=True)) / total if total else 0.0
    score = max(-1.0, min(1.0, round(score, 4)))
    label: SentimentLabel = (
        "positive"
        if score > LABEL_THRESHOLD
        else "negative"
        if score < -LABEL_THRESHOLD
        else "neutral"
    )
    return Sentiment(
        symbol=symbol, as_of=as_of, score=score, label=label, n_items=len(items), engine=engine
    )


@dataclass
class _Group:
    key: str
    text: str
    newest: NewsItem
    copies: int


def _groups(items: Sequence[NewsItem], as_of: datetime) -> list[_Group]:
    known = sorted(
        (i for i in items if i.published_at <= as_of), key=lambda i: i.published_at, reverse=True
    )
    groups: dict[str, _Group] = {}
    for item in known:
        text = text_of(item)
        key = text_hash(text)
        if key in groups:
            groups[key].copies += 1
        elif len(groups) < MAX_ITEMS:
            groups[key] = _Group(key, text, item, 1)
    return list(groups.values())


async def _load_cached(
    engine: Engine | None, keys: list[str], names: Sequence[str]
) -> list[dict[str, store.CachedSentiment]]:
    """Stored classifications of `keys` under each of `names`. Batched with other tickers' jobs
    (`store.batch`): this runs once per ticker, concurrently."""
    if engine is None or not keys:
        return [{} for _ in names]
    found = await batcher_for(engine).run(
        lambda session: store.cached_sentiments_by_engine(session, keys, names)
    )
    return [found[name] for name in names]


async def _save(engine: Engine | None, new: dict[str, dict[str, store.CachedSentiment]]) -> None:
    """Store new classifications, `new` keyed by engine name then text hash (batched with other
    tickers' jobs; a text another ticker stored a moment ago keeps that row)."""
    if engine is None or not any(new.values()):
        return

    def save_all(session: Session) -> None:
        for name, results in new.items():
            store.save_sentiments(session, name, results)

    await batcher_for(engine).run(save_all)


async def analyze_news_sentiment(
    llm: LLMClient,
    engine: Engine | None,
    symbol: str,
    items: Sequence[NewsItem],
    *,
    as_of: datetime,
    context: CallContext | None,
) -> SentimentResult:
    """Classify `items` (one batched call for uncached ones) and aggregate; see the module doc.
    `engine` None means no cache (tests, one-off use)."""
    groups = _groups(items, as_of)
    name = engine_name(llm)
    lexicon_name = default_lexicon().engine
    keys = [g.key for g in groups]
    # Lexicon fallbacks from earlier runs also count as classified.
    names = [name] if name == lexicon_name else [name, lexicon_name]
    cached, *rest = await _load_cached(engine, keys, names)
    fallback = {k: v for k, v in rest[0].items() if k not in cached} if rest else {}
    todo = [g for g in groups if g.key not in cached and g.key not in fallback]
    result = SentimentResult(
        sentiment=aggregate(symbol, [], as_of, name), items=[], llm_calls=0, notes=[]
    )
    answers: dict[str, ItemAnswer] = {}
    model_answered = False  # a valid reply came back (items it left out are counted below)
    if todo:
        variables = {
            "symbol": symbol,
            "as_of": as_of,
            "untrusted_notice": UNTRUSTED_NOTICE,
            "items": [
                {
                    "id": str(n),
                    "text": untrusted(g.text, source=f"news:{g.newest.source or 'news'}"),
                }
                for n, g in enumerate(todo, 1)
            ],
        }
        reply = await llm.structured(
            "sentiment",
            template="sentiment",
            variables=variables,
            schema=SentimentAnswer,
            context=context or CallContext(as_of=as_of),
        )
        result.llm_calls, result.tokens = 1, reply.tokens
        if reply.value is None:
            result.notes.append(
                f"sentiment model abstained ({reply.abstained_reason}); lexicon used instead"
            )
        else:
            model_answered = True
            by_id = {a.id.strip(): a for a in reply.value.items}
            answers = {g.key: by_id[str(n)] for n, g in enumerate(todo, 1) if str(n) in by_id}
    new: dict[str, dict[str, store.CachedSentiment]] = {name: {}, lexicon_name: {}}
    lexicon = default_lexicon()
    left_out = 0
    for group in groups:
        if group.key in cached:
            label, score, engine_used, was_cached = (
                cached[group.key].label, cached[group.key].score, name, True
            )  # fmt: skip
        elif group.key in fallback:
            label, score = fallback[group.key].label, fallback[group.key].score
            engine_used, was_cached = lexicon_name, True
        elif group.key in answers:
            label, score = answers[group.key].label, answers[group.key].score
            engine_used, was_cached = name, False
        else:
            found = lexicon.classify(group.text)
            label, score, engine_used, was_cached = found.label, found.score, lexicon_name, False
            left_out += model_answered  # the model answered, but not for this item
        if not was_cached:
            new[engine_used][group.key] = store.CachedSentiment(label, score)
        result.items.append(
            ItemSentimentResult(
                id=group.newest.id,
                headline=group.newest.headline,
                published_at=group.newest.published_at,
                label=label,
                score=float(score),
                engine=engine_used,
                cached=was_cached,
                copies=group.copies,
            )
        )
    if left_out:
        result.notes.append(f"the model skipped {left_out} item(s); lexicon used for them")
    await _save(engine, new)
    result.sentiment = aggregate(symbol, result.items, as_of, name)
    return result
