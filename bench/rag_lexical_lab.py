"""Offline lab for the sparse (lexical) half of RAG retrieval on ECTSum: one idea in about a minute.

    .venv/bin/python bench/rag_lexical_lab.py [--max-queries 3000] [--variants base,default]

No embeddings and no Qdrant: every transcript is chunked with the product's chunker, each chunk
and each summary line is tokenised (the product's `sparse` module or a lab variant), BM25 is
computed with scipy sparse matrices exactly as `LocalIndex` does (IDF ``ln(1 + (N - df + 0.5) /
(df + 0.5))`` over chunks, BM25 saturation in the stored weights), chunks collapse to documents at
their best chunk, and recall@1/5/10 and MRR are reported at document level, over the same evenly
spaced summary lines as `bench/rag_retrieval.py --max-queries`. `default` is whatever
`sparse.py` does now to a chunk's body (at the encoder of the time it reproduced the `sparse` row
of docs/benchmarks/rag.md section 1 exactly, 0.635); the other variants are ablations of it. The
title field of sparse v3 is not in this lab: `bench/rag_fusion_lab.py --ideas title` has it.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import sparse as sp

from orchestrator.analysis.rag import sparse as product
from orchestrator.analysis.rag.chunking import OVERLAP_WORDS, TARGET_WORDS, chunk_text
from orchestrator.analysis.rag.evaluate import ectsum_queries
from orchestrator.analysis.rag.ingest import read_ectsum

SHARED = Path(__file__).resolve().parents[2] / "shared"
DEFAULT_FILE = SHARED / "data/transcripts/ectsum_train.jsonl.gz"

Tokenizer = Callable[[str], list[str]]


@dataclass
class Variant:
    """One way of ranking: how text becomes tokens, BM25 constants, chunking and doc scoring."""

    doc_tokens: Tokenizer = product.tokenize
    query_tokens: Tokenizer = product.tokenize
    k1: float = product.K1
    b: float = product.B
    avg_len: float = product.AVG_LEN
    target_words: int = TARGET_WORDS
    overlap_words: int = OVERLAP_WORDS
    doc_lambda: float = 0.0  # weight of a whole-transcript BM25 score added to the best chunk
    query_weight: Callable[[str], float] = field(
        default=lambda token: product.PAIR_WEIGHT if "|" in token else 1.0
    )


def _bm25_matrix(
    token_lists: list[list[str]], vocab: dict[str, int], k1: float, b: float, avg_len: float
) -> sp.csr_matrix:
    rows, cols, vals = [], [], []
    for row, tokens in enumerate(token_lists):
        counts: dict[int, int] = {}
        for token in tokens:
            col = vocab.setdefault(token, len(vocab))
            counts[col] = counts.get(col, 0) + 1
        norm = k1 * (1.0 - b + b * len(tokens) / avg_len)
        for col, tf in counts.items():
            rows.append(row)
            cols.append(col)
            vals.append(tf * (k1 + 1.0) / (tf + norm))
    return sp.csr_matrix((vals, (rows, cols)), shape=(len(token_lists), 1 << 22))


def _query_matrix(
    queries: list[str], variant: Variant, vocab: dict[str, int], df: np.ndarray, n: float
) -> sp.csr_matrix:
    rows, cols, vals = [], [], []
    for row, query in enumerate(queries):
        for token in dict.fromkeys(variant.query_tokens(query)):
            col = vocab.get(token)
            if col is None:
                continue
            idf = np.log(1.0 + (n - df[col] + 0.5) / (df[col] + 0.5))
            rows.append(row)
            cols.append(col)
            vals.append(variant.query_weight(token) * idf)
    return sp.csr_matrix((vals, (rows, cols)), shape=(len(queries), df.size))


def evaluate(records: list, queries: list[tuple[str, str]], variant: Variant) -> dict[str, float]:
    started = time.perf_counter()
    doc_index = {r.document.content_hash: i for i, r in enumerate(records)}
    chunk_tokens: list[list[str]] = []
    owner: list[int] = []
    for i, record in enumerate(records):
        for chunk in chunk_text(
            record.document.text,
            target_words=variant.target_words,
            overlap_words=variant.overlap_words,
        ):
            chunk_tokens.append(variant.doc_tokens(chunk.text))
            owner.append(i)
    vocab: dict[str, int] = {}
    chunks = _bm25_matrix(chunk_tokens, vocab, variant.k1, variant.b, variant.avg_len)
    chunks = chunks[:, : len(vocab)].tocsc()
    df = np.diff(chunks.indptr).astype(np.float64)
    query_matrix = _query_matrix([q for q, _ in queries], variant, vocab, df, float(len(owner)))
    starts = np.flatnonzero(np.r_[True, np.diff(owner) != 0])
    doc_scores_extra = None
    if variant.doc_lambda:
        whole = [variant.doc_tokens(r.document.text) for r in records]
        lengths = np.array([len(t) for t in whole], dtype=float)
        doc_matrix = _bm25_matrix(whole, vocab, variant.k1, variant.b, float(lengths.mean()))
        doc_matrix = doc_matrix[:, : len(vocab)].tocsc()
        ddf = np.diff(doc_matrix.indptr).astype(np.float64)
        doc_q = _query_matrix([q for q, _ in queries], variant, vocab, ddf, float(len(records)))
        doc_scores_extra = (doc_q @ doc_matrix.T).toarray()
    ranks: list[int | None] = []
    for begin in range(0, len(queries), 250):
        block = (query_matrix[begin : begin + 250] @ chunks.T).toarray()
        per_doc = np.maximum.reduceat(block, starts, axis=1)
        if doc_scores_extra is not None:
            per_doc = per_doc + variant.doc_lambda * doc_scores_extra[begin : begin + 250]
        for row, (_, answer) in enumerate(queries[begin : begin + 250]):
            scores = per_doc[row]
            target = scores[doc_index[answer]]
            rank = int((scores > target).sum()) + 1
            ranks.append(rank if target > 0 and rank <= 10 else None)
    total = len(ranks)
    return {
        "recall@1": sum(r is not None and r <= 1 for r in ranks) / total,
        "recall@5": sum(r is not None and r <= 5 for r in ranks) / total,
        "recall@10": sum(r is not None for r in ranks) / total,
        "mrr": sum(1.0 / r for r in ranks if r is not None) / total,
        "chunks": len(owner),
        "seconds": time.perf_counter() - started,
    }


def _without(kind: str) -> Tokenizer:
    """The product's tokens minus proximity pairs ("|") or rounded values ("~")."""
    return lambda text: [t for t in product.tokenize(text) if kind not in t]


# Ablations of the product's rules; the figures of ideas tried and dropped (stemming, number
# weights, number+unit bigrams, smaller chunks, ...) are in docs/benchmarks/rag.md.
VARIANTS: dict[str, Variant] = {
    "default": Variant(),
    "no-pairs": Variant(doc_tokens=_without("|"), query_tokens=_without("|")),
    "no-rounded": Variant(doc_tokens=_without("~"), query_tokens=_without("~")),
    "k1-1.2": Variant(k1=1.2),
    "pairs-weight-1": Variant(query_weight=lambda token: 1.0),
    "doc-score-0.3": Variant(doc_lambda=0.3),
    "chunks-100": Variant(target_words=100, overlap_words=20, avg_len=product.AVG_LEN / 2),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--max-queries", type=int, default=3000)
    parser.add_argument("--variants", default="default")
    args = parser.parse_args()
    records = list(read_ectsum(args.file, limit=args.limit))
    queries = ectsum_queries(records)
    if args.max_queries and len(queries) > args.max_queries:
        step = len(queries) / args.max_queries
        queries = [queries[int(i * step)] for i in range(args.max_queries)]
    print(f"{len(records)} transcripts, {len(queries)} queries")
    print("| variant | chunks | recall@1 | recall@5 | recall@10 | MRR | s |")
    print("|---|---|---|---|---|---|---|")
    for name in args.variants.split(","):
        m = evaluate(records, queries, VARIANTS[name])
        print(
            f"| {name} | {m['chunks']} | {m['recall@1']:.3f} | {m['recall@5']:.3f} | "
            f"{m['recall@10']:.3f} | {m['mrr']:.3f} | {m['seconds']:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
