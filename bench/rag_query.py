"""Query latency of the knowledge base in local mode at N chunks (target: p95 < 100 ms at 20,000).

    .venv/bin/python bench/rag_query.py [--chunks 20000] [--queries 200] [--native 10]

Builds a throw-away local collection of N real ~200-word chunks (ECTSum transcripts, chunked by
the product's chunker) through the product's store (`KnowledgeStore.add_nodes`, the same call
ingestion makes). Their dense vectors are random unit vectors: search cost does not depend on the
values, and embedding 20,000 chunks would take this machine many minutes without changing what
is measured here. Queries are ECTSum summary lines; each query's latency covers embedding it with
the real MiniLM model plus the filtered hybrid search (as_of bound, and a ticker filter on every
other query) and reading the payloads, exactly `KnowledgeBase.search`. `--native` also times
Qdrant's own local query path (what a server does natively) on a few queries, for comparison.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from orchestrator.analysis.rag import KnowledgeBase
from orchestrator.analysis.rag.chunking import chunk_text
from orchestrator.analysis.rag.evaluate import percentile
from orchestrator.analysis.rag.ingest import read_ectsum
from orchestrator.analysis.rag.store import close_all
from orchestrator.config import Settings
from orchestrator.store.db import create_db_engine, upgrade_database

SHARED = Path(__file__).resolve().parents[2] / "shared"
DEFAULT_FILE = SHARED / "data/transcripts/ectsum_train.jsonl.gz"
DEFAULT_MODEL = SHARED / "models/all-MiniLM-L6-v2-onnx"
FAR = datetime(2100, 1, 1, tzinfo=UTC)


def _build(kb: KnowledgeBase, file: Path, chunks: int) -> tuple[list[str], list[str]]:
    from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

    rng = np.random.default_rng(7)
    nodes, queries, tickers = [], [], []
    for record in read_ectsum(file):
        doc = record.document
        queries.extend(record.summary_lines)
        tickers.append(doc.tickers[0])
        for chunk in chunk_text(doc.text):
            vector = rng.standard_normal(kb.embedder.dim).astype(np.float32)
            meta = {
                "tickers": list(doc.tickers),
                "doc_type": doc.doc_type,
                "published_at": doc.published_at.isoformat(),
                "published_ts": doc.published_at.timestamp(),
                "source": doc.source,
                "title": doc.title,
                "section": chunk.section,
                "chunk": chunk.index,
            }
            nodes.append(
                TextNode(
                    id_=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{doc.content_hash}:{chunk.index}")),
                    text=chunk.text,
                    metadata=meta,
                    embedding=(vector / np.linalg.norm(vector)).tolist(),
                    relationships={
                        NodeRelationship.SOURCE: RelatedNodeInfo(node_id=doc.content_hash)
                    },
                )
            )
            if len(nodes) >= chunks:
                break
        if len(nodes) >= chunks:
            break
    started = time.perf_counter()
    for i in range(0, len(nodes), 1_000):
        kb.store.add_nodes(nodes[i : i + 1_000])
    seconds = time.perf_counter() - started
    print(f"stored {len(nodes)} chunks in {seconds:.1f}s ({len(nodes) / seconds:.0f} chunks/s)")
    return queries, tickers


def _time(
    kb: KnowledgeBase, queries: list[str], tickers: list[str], native: bool
) -> tuple[list[float], float]:
    """Wall-clock latency of each query (ms), and the process CPU time per query (ms): on a
    shared, oversubscribed machine the second shows the work done, the first also the waiting."""
    latencies = []
    cpu = time.process_time()
    for n, query in enumerate(queries):
        started = time.perf_counter()
        kb.search(
            query,
            as_of=FAR,
            tickers=[tickers[n % len(tickers)]] if n % 2 else (),
            k=10,
            native=native,
        )
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies, (time.process_time() - cpu) * 1000 / max(len(queries), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--chunks", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--native", type=int, default=0, help="also time N native Qdrant queries")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fingpt-bench-rag-") as tmp:
        settings = Settings(var_dir=Path(tmp), embed_model_path=args.model)
        engine = create_db_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        upgrade_database(engine)
        kb = KnowledgeBase(settings, engine)
        queries, tickers = _build(kb, args.file, args.chunks)
        print(f"collection holds {kb.count_chunks()} chunks")
        kb.search("warm up", as_of=FAR)
        step = max(1, len(queries) // args.queries)
        sample = queries[::step][: args.queries]
        latencies, cpu = _time(kb, sample, tickers, native=False)
        print(
            f"local mirror hybrid: {len(latencies)} queries, p50 "
            f"{statistics.median(latencies):.1f} ms, p95 {percentile(latencies, 0.95):.1f} ms, "
            f"CPU {cpu:.1f} ms/query"
        )
        embed = []
        for query in sample[:50]:
            started = time.perf_counter()
            kb.embedder.embed_query(query)
            embed.append((time.perf_counter() - started) * 1000)
        print(f"  of which query embedding p50 {statistics.median(embed):.1f} ms")
        if args.native:
            native, cpu = _time(kb, sample[: args.native], tickers, native=True)
            print(
                f"qdrant local native hybrid: {len(native)} queries, p50 "
                f"{statistics.median(native):.1f} ms, p95 {percentile(native, 0.95):.1f} ms, "
                f"CPU {cpu:.1f} ms/query"
            )
        close_all()
        engine.dispose()


if __name__ == "__main__":
    main()
