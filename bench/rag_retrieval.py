"""Retrieval quality on ECTSum: dense vs sparse vs hybrid (several fusions), recall@1/5/10 and MRR.

    EMBED_MODEL_PATH=../shared/models/all-MiniLM-L6-v2-onnx VAR_DIR=/tmp/rag_bench/var \\
        .venv/bin/fingpt ingest ectsum ../shared/data/transcripts/ectsum_train.jsonl.gz
    .venv/bin/python bench/rag_retrieval.py --var /tmp/rag_bench/var [--max-queries 3000]

The first command is the product's own ingestion (resumable; this script also ingests whatever is
missing). Every summary line of a transcript is a query whose one right answer is that transcript
(the lines do not name the company). Queries are embedded once in batches; for each query the
knowledge base's local index returns the top `CANDIDATES` dense and sparse chunks (with the same
filter as a point-in-time search), and the rankings are derived from those two lists exactly as
`KnowledgeBase.search` does: dense alone, sparse alone, and `fusion.fuse` with the convex
combination at several alphas and with RRF. Chunks collapse to documents at their best chunk.
`fingpt eval rag` runs the same measurement end to end for the default fusion only.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path

from orchestrator.analysis.rag import KnowledgeBase
from orchestrator.analysis.rag.evaluate import CHUNK_DEPTH, DOC_DEPTH, ectsum_queries
from orchestrator.analysis.rag.fusion import fuse
from orchestrator.analysis.rag.ingest import read_ectsum
from orchestrator.analysis.rag.knowledge import CANDIDATES
from orchestrator.analysis.rag.local_index import Candidate, MirrorFilter
from orchestrator.analysis.rag.sparse import sparse_query_fn
from orchestrator.config import Settings
from orchestrator.store.db import create_db_engine, upgrade_database

SHARED = Path(__file__).resolve().parents[2] / "shared"
DEFAULT_FILE = SHARED / "data/transcripts/ectsum_train.jsonl.gz"
DEFAULT_MODEL = SHARED / "models/all-MiniLM-L6-v2-onnx"
ALPHAS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.7)
FAR = datetime(2100, 1, 1, tzinfo=UTC).timestamp()


def _documents(kb: KnowledgeBase, ranked: list[Candidate]) -> list[str]:
    mirror = kb.store.mirror
    assert mirror is not None
    return list(dict.fromkeys(mirror.document_of(c.point_id) for c in ranked))[:DOC_DEPTH]


def _metrics(ranks: list[int | None]) -> dict[str, float]:
    total = max(len(ranks), 1)
    return {
        "recall@1": sum(r is not None and r <= 1 for r in ranks) / total,
        "recall@5": sum(r is not None and r <= 5 for r in ranks) / total,
        "recall@10": sum(r is not None and r <= 10 for r in ranks) / total,
        "mrr": sum(1.0 / r for r in ranks if r is not None) / total,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--var", type=Path, required=True, help="VAR_DIR holding the collection")
    parser.add_argument("--limit", type=int, default=None, help="first N transcripts only")
    parser.add_argument("--max-queries", type=int, default=None, help="evenly spaced sample")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args()

    settings = Settings(var_dir=args.var, embed_model_path=args.model)
    engine = create_db_engine(settings.database_url)
    upgrade_database(engine)
    kb = KnowledgeBase(settings, engine)
    records = list(read_ectsum(args.file, limit=args.limit))
    report = kb.ingest(record.document for record in records)
    print(
        f"ingest: {report.added} added, {report.skipped} present, {report.chunks} chunks in "
        f"{report.seconds:.0f}s ({report.chunks_per_second:.1f} chunks/s)"
    )
    print(f"collection: {kb.count_chunks()} chunks of {len(records)} transcripts")

    queries = ectsum_queries(records)
    if args.max_queries and len(queries) > args.max_queries:
        step = len(queries) / args.max_queries
        queries = [queries[int(i * step)] for i in range(args.max_queries)]
    started = time.perf_counter()
    vectors = kb.embedder.embed_documents([q for q, _ in queries])
    embed_s = time.perf_counter() - started
    print(f"{len(queries)} queries embedded in {embed_s:.1f}s")

    store = kb.store
    assert store.mirror is not None, "run against local storage (QDRANT_PATH)"
    where = MirrorFilter(max_published_ts=FAR)
    methods = ["dense", "sparse", *[f"convex-{a}" for a in ALPHAS], "rrf"]
    ranks: dict[str, list[int | None]] = {m: [] for m in methods}
    search_s = 0.0
    for (query, answer), vector in zip(queries, vectors, strict=True):
        indices, values = sparse_query_fn([query])
        started = time.perf_counter()
        dense, sparse = store.mirror.search(vector, (indices[0], values[0]), where, CANDIDATES)
        search_s += time.perf_counter() - started
        rankings = {"dense": dense[:CHUNK_DEPTH], "sparse": sparse[:CHUNK_DEPTH]}
        for alpha in ALPHAS:
            rankings[f"convex-{alpha}"] = fuse(dense, sparse, top_k=CHUNK_DEPTH, alpha=alpha)
        rankings["rrf"] = fuse(dense, sparse, top_k=CHUNK_DEPTH, method="rrf")
        for method, ranked in rankings.items():
            documents = _documents(kb, ranked)
            ranks[method].append(documents.index(answer) + 1 if answer in documents else None)
    results = {method: _metrics(r) for method, r in ranks.items()}
    print(f"index search: {1000 * search_s / len(queries):.1f} ms/query (both lists)")
    print("| ranking | recall@1 | recall@5 | recall@10 | MRR |")
    print("|---|---|---|---|---|")
    for method, m in results.items():
        print(
            f"| {method} | {m['recall@1']:.3f} | {m['recall@5']:.3f} | "
            f"{m['recall@10']:.3f} | {m['mrr']:.3f} |"
        )
    if args.json:
        summary = {
            "transcripts": len(records),
            "chunks": kb.count_chunks(),
            "queries": len(queries),
            "results": results,
        }
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
