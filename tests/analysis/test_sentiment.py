"""Sentiment: one batched call per ticker (on the fake OpenAI server, real SDK), the per-item
cache, de-duplication, point in time, fallbacks, and the offline lexicon."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.analysis.sentiment import aggregate, analyze_news_sentiment
from orchestrator.config import get_settings
from orchestrator.domain import NewsItem
from orchestrator.errors import BudgetExceeded
from orchestrator.llm import CallContext, OfflineEngine, TokenBudget, build_llm
from tests.fakes.openai_server import FakeOpenAI, Reply

AS_OF = datetime(2015, 3, 2, 21, 0, tzinfo=UTC)
_ITEM_LINE = re.compile(r"^\[(\d+)\] (.*)$", re.M)


def news(n: int, text: str, hours_ago: float, symbol: str = "AAPL") -> NewsItem:
    return NewsItem(
        id=f"{symbol}-{n}",
        symbols=(symbol,),
        published_at=AS_OF - timedelta(hours=hours_ago),
        headline=text,
    )


def label_by_keyword(body: dict) -> Reply:
    """Answer every item of the request: 'beat' -> positive, 'miss' -> negative."""
    user = body["messages"][-1]["content"]
    items = []
    for number, text in _ITEM_LINE.findall(user):
        if "beat" in text:
            items.append({"id": number, "label": "positive", "score": 0.8})
        elif "miss" in text:
            items.append({"id": number, "label": "negative", "score": -0.6})
        else:
            items.append({"id": number, "label": "neutral", "score": 0.0})
    return Reply(content=json.dumps({"items": items}))


def sent_items(fake: FakeOpenAI, request: int) -> list[str]:
    return _ITEM_LINE.findall(fake.chat_requests()[request].body["messages"][-1]["content"])


@pytest.fixture
def llm(fake_openai: FakeOpenAI, sqlite_engine):
    fake_openai.respond_with(label_by_keyword)
    return build_llm(get_settings(), sqlite_engine)


async def test_one_batched_call_per_ticker_and_items_never_classified_twice(
    llm, fake_openai: FakeOpenAI, sqlite_engine
) -> None:
    items = [news(1, "Apple beats estimates", 2), news(2, "Apple misses on iPad", 30)]
    items += [news(3, "Apple holds event", 50)]
    first = await analyze_news_sentiment(
        llm, sqlite_engine, "AAPL", items, as_of=AS_OF, context=None
    )
    assert len(fake_openai.chat_requests()) == 1
    assert len(sent_items(fake_openai, 0)) == 3
    assert [i.label for i in first.items] == ["positive", "negative", "neutral"]
    assert not any(i.cached for i in first.items)
    assert first.sentiment.n_items == 3 and first.sentiment.score > 0  # newest item weighs most

    # A later cycle: two known items and one new one; only the new one is sent.
    later = [*items, news(4, "Apple beats again", 1)]
    second = await analyze_news_sentiment(
        llm, sqlite_engine, "AAPL", later, as_of=AS_OF, context=None
    )
    assert len(fake_openai.chat_requests()) == 2
    assert [text for _, text in sent_items(fake_openai, 1)] == [
        '<<untrusted source="news:news">>Apple beats again<</untrusted>>'
    ]
    assert [i.cached for i in second.items] == [False, True, True, True]

    # Everything cached: no call at all.
    third = await analyze_news_sentiment(
        llm, sqlite_engine, "AAPL", later, as_of=AS_OF, context=None
    )
    assert len(fake_openai.chat_requests()) == 2
    assert third.llm_calls == 0 and third.sentiment == second.sentiment


async def test_repeats_and_retweets_are_one_item(llm, fake_openai: FakeOpenAI) -> None:
    items = [
        news(1, "Apple beats estimates https://t.co/abc", 1),
        news(2, "RT @trader: Apple beats estimates", 2),
        news(3, "apple  BEATS estimates", 3),
        news(4, "Apple misses on iPad", 4),
    ]
    result = await analyze_news_sentiment(llm, None, "AAPL", items, as_of=AS_OF, context=None)
    assert len(sent_items(fake_openai, 0)) == 2
    assert [(i.id, i.copies) for i in result.items] == [("AAPL-1", 3), ("AAPL-4", 1)]
    assert result.sentiment.n_items == 2


async def test_news_after_as_of_is_ignored(llm, fake_openai: FakeOpenAI) -> None:
    known = [news(1, "Apple misses on iPad", 3)]
    planted = NewsItem(
        id="future",
        symbols=("AAPL",),
        published_at=AS_OF + timedelta(minutes=1),
        headline="Apple beats everything",
    )
    with_future = await analyze_news_sentiment(
        llm, None, "AAPL", [*known, planted], as_of=AS_OF, context=None
    )
    without = await analyze_news_sentiment(llm, None, "AAPL", known, as_of=AS_OF, context=None)
    assert with_future.sentiment == without.sentiment
    assert all("everything" not in text for _, text in sent_items(fake_openai, 0))


async def test_items_the_model_skips_fall_back_to_the_lexicon(
    fake_openai: FakeOpenAI, sqlite_engine
) -> None:
    fake_openai.reply_json({"items": [{"id": "1", "label": "positive", "score": 0.9}]})
    llm = build_llm(get_settings(), sqlite_engine)
    items = [news(1, "Apple beats estimates", 1), news(2, "Apple downgraded to sell", 2)]
    result = await analyze_news_sentiment(
        llm, sqlite_engine, "AAPL", items, as_of=AS_OF, context=None
    )
    assert result.items[1].label == "negative" and result.items[1].engine == "lexicon-v1"
    assert "skipped 1" in result.notes[0]


async def test_abstention_falls_back_to_the_lexicon_with_the_reason(
    fake_openai: FakeOpenAI, sqlite_engine
) -> None:
    fake_openai.reply_text("I cannot help with that")
    fake_openai.reply_text("still not JSON")
    llm = build_llm(get_settings(), sqlite_engine)
    items = [news(1, "Apple beats estimates and raises guidance", 1)]
    result = await analyze_news_sentiment(
        llm, sqlite_engine, "AAPL", items, as_of=AS_OF, context=None
    )
    assert result.sentiment.label == "positive"
    assert "abstained" in result.notes[0]


async def test_budget_exhaustion_propagates(llm, fake_openai: FakeOpenAI) -> None:
    budget = TokenBudget(1_000)
    budget.spend(999)
    with pytest.raises(BudgetExceeded):
        await analyze_news_sentiment(
            llm,
            None,
            "AAPL",
            [news(1, "Apple beats estimates", 1)],
            as_of=AS_OF,
            context=CallContext(budget=budget, as_of=AS_OF),
        )
    assert fake_openai.chat_requests() == []


async def test_offline_engine_uses_the_lexicon_and_caches(sqlite_engine) -> None:
    offline = OfflineEngine(known_symbols=["AAPL"])
    items = [news(1, "Apple downgraded to sell, guidance cut", 1), news(2, "Apple beats", 80)]
    first = await analyze_news_sentiment(
        offline, sqlite_engine, "AAPL", items, as_of=AS_OF, context=None
    )
    assert first.sentiment.engine == "lexicon-v1"
    assert first.items[0].label == "negative"
    assert first.sentiment.label == "negative"  # the recent bad news outweighs the old good
    again = await analyze_news_sentiment(
        offline, sqlite_engine, "AAPL", items, as_of=AS_OF, context=None
    )
    assert again.llm_calls == 0 and all(i.cached for i in again.items)


def test_aggregate_recency_decay_and_empty() -> None:
    from orchestrator.analysis.sentiment import ItemSentimentResult

    def item(score: float, hours: float) -> ItemSentimentResult:
        return ItemSentimentResult(
            "x", "h", AS_OF - timedelta(hours=hours), "neutral", score, "e", False
        )

    # 48 h half-life: an item two days old weighs half of a fresh one.
    mixed = aggregate("AAPL", [item(1.0, 0), item(-1.0, 48)], AS_OF, "e")
    assert mixed.score == pytest.approx(1 / 3, abs=1e-3)
    assert mixed.label == "positive"
    none = aggregate("AAPL", [], AS_OF, "e")
    assert (none.score, none.label, none.n_items) == (0.0, "neutral", 0)
