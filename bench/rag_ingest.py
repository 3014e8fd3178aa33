"""Ingest speed of the dense encoder variants, and what each costs in retrieval quality.

    .venv/bin/python bench/rag_ingest.py [--docs 60] [--rounds 2]

Variants of MiniLM through fastembed: fp32 or int8 (MatMul weights, per channel, see
`embeddings.quantise_model`), maximum sequence length 256/128/96/64 word pieces, onnxruntime
threads per batch and batches encoded at once (the product's default: one thread each, one
batch per core; "threads=all" is onnxruntime's own pool over every core, one batch at a time).
For each:

1. encoder speed: the same ~200-word chunks (from the first `--docs` ECTSum transcripts) embedded
   in `--rounds` interleaved rounds; the best round counts, since this machine is shared and
   other work only ever slows a round down; the ratio to the fp32/256 baseline is the figure to
   compare across machines;
2. retrieval cost: the `--docs` transcripts ingested into a throw-away knowledge base through
   the product's `KnowledgeBase.ingest` (chunking, embedding, sparse vectors, Qdrant, registry),
   then every summary line queried in dense and hybrid mode (recall@5, MRR).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from orchestrator.analysis.rag import KnowledgeBase
from orchestrator.analysis.rag.chunking import chunk_text
from orchestrator.analysis.rag.embeddings import FastEmbedEmbedder
from orchestrator.analysis.rag.evaluate import ectsum_queries, score_queries
from orchestrator.analysis.rag.ingest import read_ectsum
from orchestrator.analysis.rag.store import close_all
from orchestrator.config import Settings
from orchestrator.store.db import create_db_engine, upgrade_database

SHARED = Path(__file__).resolve().parents[2] / "shared"
DEFAULT_FILE = SHARED / "data/transcripts/ectsum_train.jsonl.gz"
DEFAULT_MODEL = SHARED / "models/all-MiniLM-L6-v2-onnx"
NAME = "sentence-transformers/all-MiniLM-L6-v2"
# (int8, max tokens, onnxruntime threads per batch, batches at once); None: one per core.
# The product default is (True, 64, 1, None).
Variant = tuple[bool, int, int | None, int | None]
VARIANTS: list[Variant] = [
    (False, 256, None, 1),
    (False, 128, None, 1),
    (True, 256, None, 1),
    (True, 128, None, 1),
    (True, 128, 1, 1),
    (True, 96, None, 1),
    (True, 64, None, 1),
    (True, 64, 1, None),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--docs", type=int, default=60)
    parser.add_argument("--speed-chunks", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-recall", action="store_true")
    parser.add_argument(
        "--variants",
        default="",
        help="subset, e.g. int8:64,int8:64:all:1 (precision:tokens[:threads[:batches at "
        "once]], 'all' = onnxruntime's default; the default is 1 thread, a batch per core)",
    )
    args = parser.parse_args()
    variants = VARIANTS
    if args.variants:
        variants = []
        for item in args.variants.split(","):
            parts = [*item.split(":"), "1", "all"][:4]
            threads, workers = (None if p == "all" else int(p) for p in parts[2:])
            variants.append((parts[0] == "int8", int(parts[1]), threads, workers))
    records = list(read_ectsum(args.file, limit=args.docs))
    texts = [c.text for r in records for c in chunk_text(r.document.text)][: args.speed_chunks]
    words = sum(len(t.split()) for t in texts) / len(texts)
    print(f"{len(texts)} chunks of {words:.0f} words on average for the speed rounds")

    with tempfile.TemporaryDirectory(prefix="fingpt-bench-ingest-") as tmp:
        encoders = {
            v: FastEmbedEmbedder(
                NAME,
                model_path=args.model,
                cache_dir=Path(tmp),
                int8=v[0],
                max_tokens=v[1],
                threads=v[2],
                workers=v[3],
            )
            for v in variants
        }
        best: dict[Variant, float] = {}
        cpu_rate: dict[Variant, float] = {}
        for _ in range(args.rounds):
            for variant, encoder in encoders.items():
                encoder.embed_documents(texts[:16])  # warm up
                started, cpu = time.perf_counter(), time.process_time()
                encoder.embed_documents(texts)
                rate = len(texts) / (time.perf_counter() - started)
                best[variant] = max(best.get(variant, 0.0), rate)
                # Chunks per CPU-second (all threads): what the work costs, apart from waiting
                # for a core on a shared machine.
                per_cpu = len(texts) / max(time.process_time() - cpu, 1e-9)
                cpu_rate[variant] = max(cpu_rate.get(variant, 0.0), per_cpu)
        rows = []
        for variant, encoder in encoders.items():
            row = {
                "variant": f"{'int8' if variant[0] else 'fp32'} t{variant[1]} "
                f"threads={variant[2] or 'all'} batches={variant[3] or 'all'}",
                "encoder": best[variant],
                "per_cpu_s": cpu_rate[variant],
                "ratio": cpu_rate[variant] / cpu_rate[variants[0]],
            }
            if not args.no_recall:
                row.update(_recall(encoder, records, Path(tmp) / f"kb-{len(rows)}", args.model))
            rows.append(row)
            print(row, flush=True)
    print(
        "| variant | encoder chunks/s (wall) | chunks per CPU-s | x first (CPU) | "
        "ingest chunks/s | dense R@5 | hybrid R@5 | hybrid MRR |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['variant']} | {row['encoder']:.1f} | {row['per_cpu_s']:.1f} | "
            f"{row['ratio']:.2f} | "
            f"{row.get('ingest', 0):.1f} | {row.get('dense_r5', 0):.3f} | "
            f"{row.get('hybrid_r5', 0):.3f} | {row.get('hybrid_mrr', 0):.3f} |"
        )


def _recall(encoder: FastEmbedEmbedder, records: list, var: Path, model: Path) -> dict:
    settings = Settings(var_dir=var, embed_model_path=model)
    var.mkdir(parents=True)
    engine = create_db_engine(settings.database_url)
    upgrade_database(engine)
    kb = KnowledgeBase(settings, engine, embedder=encoder)
    report = kb.ingest(r.document for r in records)
    queries = ectsum_queries(records)
    dense = score_queries(kb, queries, mode="dense")
    hybrid = score_queries(kb, queries, mode="hybrid")
    close_all()
    engine.dispose()
    return {
        "ingest": report.chunks_per_second,
        "dense_r5": dense.recall_at_5,
        "hybrid_r5": hybrid.recall_at_5,
        "hybrid_mrr": hybrid.mrr,
    }


if __name__ == "__main__":
    main()
