"""What a cycle feeds the knowledge base: its news, decisions, outcomes and lessons, each dated
when it became known, each searchable by type and ticker, none added twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orchestrator.analysis.rag import KnowledgeBase
from orchestrator.analysis.rag.feed import (
    ingest_cycle_record,
    ingest_lessons,
    ingest_news,
    ingest_outcomes,
)
from orchestrator.cycle_record import CandidateRecord, CycleRecord, ProposalRecord
from orchestrator.domain import NewsItem
from orchestrator.store.feedback import DecisionOutcomeRow, LessonRow

AS_OF = datetime(2015, 3, 2, 15, 30, tzinfo=UTC)
LATER = datetime(2016, 1, 1, tzinfo=UTC)


def _news(n: int, symbol: str = "AAPL") -> NewsItem:
    return NewsItem(
        id=f"n{n}",
        symbols=(symbol,),
        published_at=AS_OF - timedelta(hours=n),
        headline=f"{symbol} supplier {n} raises iPhone component orders",
        summary="Orders for the next quarter were raised by 20 percent.",
        source="wire",
        url=f"https://news.example/{n}",
    )


async def test_cycle_news_is_ingested_once(kb: KnowledgeBase) -> None:
    items = [_news(1), _news(2), _news(1)]
    first = await ingest_news(kb, items)
    assert (first.added, first.documents) == (2, 2)
    assert (await ingest_news(kb, items[:2])).added == 0
    assert (await ingest_news(kb, [])).documents == 0
    hits = kb.search("iPhone component orders", as_of=AS_OF, doc_types=["news"], k=5)
    assert {h.source for h in hits} == {"https://news.example/1", "https://news.example/2"}


async def test_decisions_outcomes_and_lessons(kb: KnowledgeBase) -> None:
    record = CycleRecord(
        cycle_id=7,
        slot="s",
        mode="paper",
        as_of=AS_OF,
        candidates=[CandidateRecord(symbol="AAPL"), CandidateRecord(symbol="MSFT")],
        decision_summary="Buy AAPL on strong supplier orders; hold MSFT.",
        proposals=[
            ProposalRecord(
                symbol="AAPL",
                side="buy",
                quantity=10,
                confidence=0.7,
                rationale="Supplier orders up 20 percent point to a strong iPhone quarter.",
                verdict="resized",
                verdict_quantity=6,
                reasons=["max position 10% of equity"],
                price=128.5,
            )
        ],
    )
    report = await ingest_cycle_record(kb, record.model_dump(mode="json"))
    assert report.added == 2  # the proposal and the cycle's summary
    assert (await ingest_cycle_record(kb, record)).added == 0  # model or dict: same documents
    outcome = DecisionOutcomeRow(
        proposal_id=41,
        cycle_id=7,
        symbol="AAPL",
        side="buy",
        decided_at=AS_OF,
        horizon_days=20,
        entry_price=128.5,
        exit_price=120.0,
        return_pct=-6.6,
        benchmark_return_pct=-1.0,
        excess_return_pct=-5.6,
        hit=False,
        signals_agreed={"momentum": True, "sentiment": False},
        evaluated_at=AS_OF + timedelta(days=28),
    )
    assert (await ingest_outcomes(kb, [outcome])).added == 1
    lesson = LessonRow(
        id=3,
        created_at=AS_OF + timedelta(days=29),
        symbol=None,
        text="Supplier order news alone did not predict a rally; wait for confirmation.",
    )
    assert (await ingest_lessons(kb, [lesson, {"text": "", "created_at": LATER}])).added == 1

    decisions = kb.search("AAPL buy supplier orders", as_of=AS_OF, doc_types=["decision"], k=5)
    proposal = next(h for h in decisions if h.title.startswith("Decision BUY AAPL"))
    assert "Risk verdict: resized (quantity 6.0)" in proposal.text
    assert "max position 10% of equity" in proposal.text and proposal.tickers == ("AAPL",)
    summary = next(h for h in decisions if "summary" in h.title)
    assert set(summary.tickers) == {"AAPL", "MSFT"}

    # The outcome was only known 28 days later: a run before that cannot see it.
    assert kb.search("outcome AAPL", as_of=AS_OF + timedelta(days=27), doc_types=["outcome"]) == []
    seen = kb.search("outcome AAPL", as_of=LATER, doc_types=["outcome"], tickers=["AAPL"])
    assert "return -6.60%" in seen[0].text and "The decision was wrong." in seen[0].text
    assert "disagreed: sentiment" in seen[0].text
    lessons = kb.search("supplier order news", as_of=LATER, doc_types=["lesson"])
    assert [h.tickers for h in lessons] == [()]  # a general lesson has no ticker
    assert lessons[0].published_at == AS_OF + timedelta(days=29)
