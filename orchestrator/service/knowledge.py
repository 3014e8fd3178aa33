"""The knowledge base for every face: ingest files, ECTSum, news and the bot's own records; search;
evaluate retrieval.

Blocking work (model inference, Qdrant, SQL) runs in a worker thread. Errors: unreadable input
raises `DataError`, a model or Qdrant that cannot be opened raises `ConfigError`.
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from orchestrator.analysis.rag import KnowledgeBase, build_knowledge_base
from orchestrator.analysis.rag.evaluate import evaluate_ectsum
from orchestrator.analysis.rag.ingest import (
    DOC_TYPES,
    SourceDocument,
    iter_files,
    news_document,
    read_ectsum,
    read_file,
    record_document,
)
from orchestrator.analysis.rag.knowledge import IngestReport, SearchMode
from orchestrator.analysis.rag.store import close_location
from orchestrator.config import Settings, get_settings
from orchestrator.domain import NewsItem
from orchestrator.errors import DataError
from orchestrator.service.views import View
from orchestrator.store.db import create_db_engine, get_engine, upgrade_database

ProgressCallback = Callable[[int, int], None]  # (documents done, chunks done)

_bases: dict[tuple[str, ...], KnowledgeBase] = {}
_bases_lock = threading.Lock()


class IngestView(View):
    documents: int
    added: int
    skipped: int
    redone: int
    chunks: int
    seconds: float
    chunks_per_second: float


class KnowledgeHitView(View):
    title: str
    source: str
    doc_type: str
    tickers: tuple[str, ...]
    published_at: datetime
    score: float
    text: str


class RetrievalScoresView(View):
    mode: str
    queries: int
    recall_at_1: float
    recall_at_5: float
    recall_at_10: float
    mrr: float
    query_p50_ms: float
    query_p95_ms: float


class RagEvalView(View):
    file: str
    documents: int
    chunks: int
    ingest_seconds: float
    ingest_chunks_per_second: float
    scores: tuple[RetrievalScoresView, ...]


def knowledge_base(settings: Settings | None = None) -> KnowledgeBase:
    """The configured knowledge base, built once per process and configuration."""
    settings = settings or get_settings()
    key = (
        settings.database_url,
        str(settings.qdrant_url or settings.qdrant_path),
        settings.embed_provider,
        settings.embed_model,
        str(settings.embed_model_path),
        str(settings.embed_int8),
    )
    with _bases_lock:
        if key not in _bases:
            _bases[key] = build_knowledge_base(settings, get_engine(settings))
        return _bases[key]


def _view(report: IngestReport) -> IngestView:
    return IngestView(
        documents=report.documents,
        added=report.added,
        skipped=report.skipped,
        redone=report.redone,
        chunks=report.chunks,
        seconds=report.seconds,
        chunks_per_second=report.chunks_per_second,
    )


async def _ingest(
    documents: Iterable[SourceDocument], on_progress: ProgressCallback | None
) -> IngestView:
    stop = threading.Event()

    def run() -> IngestReport:
        return knowledge_base().ingest(documents, on_progress=on_progress, stop=stop)

    try:
        return _view(await asyncio.to_thread(run))
    except asyncio.CancelledError:
        # Ctrl-C cancels this coroutine, but a worker thread cannot be killed: tell it to stop
        # after the current group so the process exits soon (the next run resumes from there).
        stop.set()
        raise


def count_files(path: Path) -> int:
    """How many supported files `ingest_path` would read (for a progress bar)."""
    return len(iter_files(path))


async def ingest_path(
    path: Path,
    *,
    tickers: Sequence[str] = (),
    doc_type: str | None = None,
    published_at: datetime | None = None,
    on_progress: ProgressCallback | None = None,
) -> IngestView:
    """Ingest a file or every PDF/HTML/TXT/MD file under a folder (already-seen content skipped)."""
    if doc_type is not None and doc_type not in DOC_TYPES:
        raise DataError(f"--type {doc_type!r} is not one of {', '.join(DOC_TYPES)}")
    files = iter_files(path)
    if not files:
        raise DataError(f"No PDF, HTML, TXT or Markdown files under {path}")
    documents = (
        read_file(f, tickers=tuple(tickers), doc_type=doc_type, published_at=published_at)
        for f in files
    )
    return await _ingest(documents, on_progress)


async def ingest_ectsum(
    file: Path, *, limit: int | None = None, on_progress: ProgressCallback | None = None
) -> IngestView:
    """Ingest earnings-call transcripts in the ECTSum JSONL layout."""
    return await _ingest((r.document for r in read_ectsum(file, limit=limit)), on_progress)


async def ingest_news_items(items: Sequence[NewsItem]) -> IngestView:
    """Ingest news items (cycles call this with what they fetched; repeats are skipped)."""
    return await _ingest([news_document(item) for item in items], None)


async def ingest_news(
    symbols: Sequence[str],
    *,
    as_of: datetime,
    since: datetime | None = None,
    limit: int = 50,
    on_progress: ProgressCallback | None = None,
) -> IngestView:
    """Fetch news for `symbols` from the configured provider and ingest it."""
    from orchestrator.service.data import fetch_news

    items: list[NewsItem] = []
    for symbol in symbols:
        items.extend(await fetch_news(symbol, as_of=as_of, since=since, limit=limit))
    unique = list({item.id: item for item in items}.values())
    return await _ingest([news_document(item) for item in unique], on_progress)


async def ingest_record(
    kind: str, text: str, *, tickers: Sequence[str], at: datetime, title: str = ""
) -> IngestView:
    """Ingest one of the bot's own decisions, outcomes or lessons."""
    document = record_document(kind, text, tickers=tuple(tickers), at=at, title=title)
    return await _ingest([document], None)


async def ingest_history(*, on_progress: ProgressCallback | None = None) -> IngestView:
    """Ingest the bot's own past decisions (stored cycle records), outcomes and lessons.

    Cycles feed these automatically; this backfills a database that predates the knowledge base
    (or a new embedding model's empty collection). Already-present records are skipped.
    """
    from orchestrator.analysis.rag.feed import (
        decision_documents,
        lesson_document,
        outcome_document,
    )
    from orchestrator.store.cycles import latest_cycles
    from orchestrator.store.db import session_scope
    from orchestrator.store.feedback import outcomes, recent_lessons

    def collect() -> list[SourceDocument]:
        with session_scope(get_engine()) as session:
            cycles = latest_cycles(session, limit=1_000_000)
            evaluated = outcomes(session)
            lessons = recent_lessons(session, limit=1_000_000, before=datetime.now(UTC))
        documents: list[SourceDocument] = []
        for row in reversed(cycles):
            if row.record and row.record.get("as_of"):
                documents.extend(decision_documents(row.record))
        documents.extend(outcome_document(row) for row in evaluated)
        documents.extend(lesson_document(row) for row in lessons if row.text.strip())
        return documents

    return await _ingest(await asyncio.to_thread(collect), on_progress)


async def search(
    query: str,
    *,
    as_of: datetime,
    tickers: Sequence[str] = (),
    doc_types: Sequence[str] = (),
    since: datetime | None = None,
    k: int = 5,
) -> list[KnowledgeHitView]:
    """The best `k` passages published by `as_of`."""
    hits = await asyncio.to_thread(
        knowledge_base().search,
        query,
        as_of=as_of,
        tickers=tickers,
        doc_types=doc_types,
        since=since,
        k=k,
    )
    return [
        KnowledgeHitView(
            title=h.title,
            source=h.source,
            doc_type=h.doc_type,
            tickers=h.tickers,
            published_at=h.published_at,
            score=h.score,
            text=h.text,
        )
        for h in hits
    ]


def _evaluate(
    file: Path,
    limit: int | None,
    modes: Sequence[SearchMode],
    on_ingest: ProgressCallback | None,
    on_query: Callable[[int], None] | None,
) -> RagEvalView:
    records = list(read_ectsum(file, limit=limit))
    if not records:
        raise DataError(f"No ECTSum records in {file}")
    base = get_settings()
    # A throw-away collection and registry, so evaluating never touches the real knowledge base.
    with tempfile.TemporaryDirectory(prefix="fingpt-eval-rag-") as tmp:
        settings = base.model_copy(update={"qdrant_url": None, "qdrant_path": Path(tmp) / "qdrant"})
        engine = create_db_engine(f"sqlite:///{Path(tmp) / 'eval.db'}")
        try:
            upgrade_database(engine)
            kb = build_knowledge_base(settings, engine)
            result = evaluate_ectsum(
                kb, records, modes=modes, on_ingest=on_ingest, on_query=on_query
            )
        finally:
            close_location(settings)
            engine.dispose()
    return RagEvalView(
        file=str(file),
        documents=result.documents,
        chunks=result.chunks,
        ingest_seconds=result.ingest_seconds,
        ingest_chunks_per_second=result.ingest_chunks_per_second,
        scores=tuple(RetrievalScoresView(**vars(score)) for score in result.scores),
    )


async def evaluate_rag(
    file: Path,
    *,
    limit: int | None = None,
    modes: Sequence[SearchMode] = ("hybrid",),
    on_ingest: ProgressCallback | None = None,
    on_query: Callable[[int], None] | None = None,
) -> RagEvalView:
    """Recall@1/5/10, MRR, ingest speed and query latency on an ECTSum file."""
    return await asyncio.to_thread(_evaluate, file, limit, modes, on_ingest, on_query)
