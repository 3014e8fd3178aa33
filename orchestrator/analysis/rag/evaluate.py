"""Retrieval evaluation on the ECTSum layout: does a summary line find its own earnings call?

Every transcript is ingested; each line of its Reuters-style summary ("q3 revenue rose 11.1
percent to $481.1 million.") is a query whose one right answer is that transcript. Chunks come
back ranked; they are collapsed to documents (a document ranks at its best chunk) and the metrics
are document-level: recall@1/5/10 (share of queries whose transcript is among the first k
documents) and MRR (mean of 1/rank, 0 beyond `DOC_DEPTH`). Ingest speed (chunks/s, including
chunking, embedding and storage) and per-query latency (embedding the query plus the search)
are measured on the same run.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from orchestrator.analysis.rag.fusion import DEFAULT_ALPHA, FusionMethod
from orchestrator.analysis.rag.ingest import EctsumRecord
from orchestrator.analysis.rag.knowledge import KnowledgeBase, SearchMode

DOC_DEPTH = 10  # documents ranked per query: enough for recall@10 and the MRR tail
CHUNK_DEPTH = 50  # chunks fetched per query before collapsing them to documents
_FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)  # evaluation is not point-in-time


@dataclass(frozen=True)
class RetrievalScores:
    mode: str
    queries: int
    recall_at_1: float
    recall_at_5: float
    recall_at_10: float
    mrr: float
    query_p50_ms: float
    query_p95_ms: float


@dataclass(frozen=True)
class RagEvaluation:
    documents: int
    chunks: int
    ingest_seconds: float
    ingest_chunks_per_second: float
    scores: tuple[RetrievalScores, ...]


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (share in 0..1); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(share * len(ordered) + 0.5)))
    return ordered[rank - 1]


def ranked_documents(kb: KnowledgeBase, query: str, **options: object) -> list[str]:
    """Document ids in rank order (best chunk first), at most DOC_DEPTH."""
    hits = kb.search(query, as_of=_FAR_FUTURE, k=CHUNK_DEPTH, **options)  # type: ignore[arg-type]
    return list(dict.fromkeys(hit.doc_id for hit in hits))[:DOC_DEPTH]


def score_queries(
    kb: KnowledgeBase,
    queries: Sequence[tuple[str, str]],
    *,
    mode: SearchMode = "hybrid",
    alpha: float = DEFAULT_ALPHA,
    method: FusionMethod = "convex",
    on_progress: Callable[[int], None] | None = None,
) -> RetrievalScores:
    """Metrics for (query, right document id) pairs."""
    hits_at = {1: 0, 5: 0, 10: 0}
    reciprocal = 0.0
    latencies: list[float] = []
    for number, (query, answer) in enumerate(queries, start=1):
        started = time.perf_counter()
        ranking = ranked_documents(kb, query, mode=mode, alpha=alpha, method=method)
        latencies.append((time.perf_counter() - started) * 1000)
        if answer in ranking:
            rank = ranking.index(answer) + 1
            reciprocal += 1.0 / rank
            for k in hits_at:
                hits_at[k] += int(rank <= k)
        if on_progress is not None and number % 50 == 0:
            on_progress(number)
    total = max(len(queries), 1)
    return RetrievalScores(
        mode=mode if mode != "hybrid" else f"hybrid-{method}",
        queries=len(queries),
        recall_at_1=hits_at[1] / total,
        recall_at_5=hits_at[5] / total,
        recall_at_10=hits_at[10] / total,
        mrr=reciprocal / total,
        query_p50_ms=statistics.median(latencies) if latencies else 0.0,
        query_p95_ms=percentile(latencies, 0.95),
    )


def ectsum_queries(records: Sequence[EctsumRecord]) -> list[tuple[str, str]]:
    """(summary line, content hash of its transcript) for every record."""
    return [
        (line, record.document.content_hash) for record in records for line in record.summary_lines
    ]


def evaluate_ectsum(
    kb: KnowledgeBase,
    records: Sequence[EctsumRecord],
    *,
    modes: Sequence[SearchMode] = ("hybrid",),
    on_ingest: Callable[[int, int], None] | None = None,
    on_query: Callable[[int], None] | None = None,
) -> RagEvaluation:
    """Ingest `records` into `kb` (which should be empty) and score every mode."""
    report = kb.ingest((record.document for record in records), on_progress=on_ingest)
    queries = ectsum_queries(records)
    scores = tuple(score_queries(kb, queries, mode=mode, on_progress=on_query) for mode in modes)
    return RagEvaluation(
        documents=report.added,
        chunks=report.chunks,
        ingest_seconds=report.seconds,
        ingest_chunks_per_second=report.chunks_per_second,
        scores=scores,
    )
