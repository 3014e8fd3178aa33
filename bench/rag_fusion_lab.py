"""Lab for transcript-level scoring, a title field and dense coverage on ECTSum (sparse, dense).

    nice -n 19 .venv/bin/python bench/rag_fusion_lab.py [--dense /tmp/rag_dense_lab] [--ideas ...]

Builds on `bench/rag_lexical_lab.py` (same chunks, same tokens, same BM25 with the IDF of
`LocalIndex`, same 3,000 evenly spaced summary lines) and on the window embeddings of
`bench/rag_dense_windows.py` (optional). Score matrices (queries x chunks, queries x transcripts)
are computed once; each idea is then a few numpy operations:

* sparse best chunk (the product's sparse ranking), best + w * second-best chunk;
* whole-transcript BM25 (one vector per call) alone, k1/b sweep, and mixed with the best chunk;
* dense: window 0 (the product's vector), max over a chunk's windows, a transcript's mean
  vector;
* hybrids: the product's fusion emulated (top `CANDIDATES` of each list, min-max normalised over
  its own candidates, convex alpha, top 50 chunks collapsed to transcripts), and transcript-level
  mixes.

Token lists are cached under `--cache` (pickle), so a rerun starts in seconds.
"""

from __future__ import annotations

import argparse
import pickle
import re
import sys
import time
from pathlib import Path

import numpy as np
from scipy import sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rag_dense_windows import sample_queries  # noqa: E402
from rag_lexical_lab import DEFAULT_FILE, Variant, _bm25_matrix, _query_matrix  # noqa: E402

from orchestrator.analysis.rag import sparse as product  # noqa: E402
from orchestrator.analysis.rag.chunking import chunk_text  # noqa: E402
from orchestrator.analysis.rag.ingest import read_ectsum  # noqa: E402

CANDIDATES = 50  # knowledge.CANDIDATES
CHUNK_DEPTH = 50  # evaluate.CHUNK_DEPTH
BLOCK = 250
WEIGHTS = (0.3, 0.5, 1.0, 2.0)


def metrics(per_doc: np.ndarray, answers: np.ndarray) -> dict[str, float]:
    """recall@1/5/10 and MRR from a queries x transcripts score matrix (higher is better)."""
    target = per_doc[np.arange(len(answers)), answers]
    rank = (per_doc > target[:, None]).sum(axis=1) + 1
    valid = np.isfinite(target) & (target > -1e29)
    rank = np.where(valid, rank, 10**6)
    return {
        "r1": float(np.mean(rank <= 1)),
        "r5": float(np.mean(rank <= 5)),
        "r10": float(np.mean(rank <= 10)),
        "mrr": float(np.mean(np.where(rank <= 10, 1.0 / rank, 0.0))),
    }


class Lab:
    def __init__(self, file: Path, cache: Path, max_queries: int) -> None:
        cache.mkdir(parents=True, exist_ok=True)
        self.records = list(read_ectsum(file))
        queries = sample_queries(self.records, max_queries)
        doc_index = {r.document.content_hash: i for i, r in enumerate(self.records)}
        self.queries = [q for q, _ in queries]
        self.answers = np.asarray([doc_index[a] for _, a in queries])
        path = cache / f"tokens-v{product.VERSION}.pkl"
        if path.is_file():
            self.chunk_tokens, self.owner, self.doc_tokens = pickle.loads(path.read_bytes())
        else:
            self.chunk_tokens, self.owner = [], []
            for i, record in enumerate(self.records):
                for chunk in chunk_text(record.document.text):
                    self.chunk_tokens.append(product.tokenize(chunk.text))
                    self.owner.append(i)
            self.doc_tokens = [product.tokenize(r.document.text) for r in self.records]
            path.write_bytes(pickle.dumps((self.chunk_tokens, self.owner, self.doc_tokens)))
        self.owner = np.asarray(self.owner)
        self.starts = np.flatnonzero(np.r_[True, np.diff(self.owner) != 0])
        counts = np.diff(np.r_[self.starts, len(self.owner)])
        # transcripts x max chunks, -1 for padding: gathers top-k chunks per transcript
        self.pad = np.full((len(self.records), counts.max()), -1)
        for doc, (start, count) in enumerate(zip(self.starts, counts, strict=True)):
            self.pad[doc, :count] = np.arange(start, start + count)

    # --- sparse ---------------------------------------------------------------------------
    def sparse_chunks(self, variant: Variant, doc_idf: bool = False) -> np.ndarray:
        """queries x chunks BM25 scores (`doc_idf`: IDF from the number of transcripts holding
        a token, not the number of chunks)."""
        vocab: dict[str, int] = {}
        chunks = _bm25_matrix(self.chunk_tokens, vocab, variant.k1, variant.b, variant.avg_len)
        chunks = chunks[:, : len(vocab)].tocsc()
        df = np.diff(chunks.indptr).astype(np.float64)
        n = float(len(self.owner))
        if doc_idf:
            owner_of = sp.csr_matrix(
                (np.ones(len(self.owner)), (self.owner, np.arange(len(self.owner)))),
                shape=(len(self.records), len(self.owner)),
            )
            df = np.asarray(((owner_of @ chunks) > 0).sum(axis=0)).ravel().astype(np.float64)
            n = float(len(self.records))
        q = _query_matrix(self.queries, variant, vocab, df, n)
        return (q @ chunks.T).toarray().astype(np.float32)

    def sparse_titled(self, weight: float, keep=lambda token: True) -> np.ndarray:
        """queries x chunks BM25 with a TITLE FIELD: each plain token of the transcript's title
        ("VPG Q1 2020 earnings call") is added to every chunk of it as "t:<token>" (tf 1, the
        chunk's own length norm), and each plain query token also as "t:<token>" with query
        weight `weight`; the field has its own document frequencies."""
        titles = []
        for record in self.records:
            plain = [t for t in product.tokenize(record.document.title) if "|" not in t]
            titles.append([f"t:{t}" for t in dict.fromkeys(plain) if keep(t)])
        tokens = [
            chunk + titles[doc] for chunk, doc in zip(self.chunk_tokens, self.owner, strict=True)
        ]
        lengths = [len(chunk) for chunk in self.chunk_tokens]
        vocab: dict[str, int] = {}
        rows, cols, vals = [], [], []
        k1, b, avg = product.K1, product.B, product.AVG_LEN
        for row, (bag, length) in enumerate(zip(tokens, lengths, strict=True)):
            counts: dict[int, int] = {}
            for token in bag:
                col = vocab.setdefault(token, len(vocab))
                counts[col] = counts.get(col, 0) + 1
            norm = k1 * (1.0 - b + b * length / avg)
            for col, tf in counts.items():
                rows.append(row)
                cols.append(col)
                vals.append(tf * (k1 + 1.0) / (tf + norm))
        chunks = sp.csr_matrix((vals, (rows, cols)), shape=(len(tokens), len(vocab))).tocsc()
        df = np.diff(chunks.indptr).astype(np.float64)

        def query_tokens(text: str) -> list[str]:
            plain = product.tokenize(text)
            return plain + [f"t:{t}" for t in plain if "|" not in t and keep(t)]

        def query_weight(token: str) -> float:
            if token.startswith("t:"):
                return weight
            return product.PAIR_WEIGHT if "|" in token else 1.0

        variant = Variant(query_tokens=query_tokens, query_weight=query_weight)
        q = _query_matrix(self.queries, variant, vocab, df, float(len(self.owner)))
        return (q @ chunks.T).toarray().astype(np.float32)

    def sparse_docs(self, k1: float, b: float, avg_len: float | None = None) -> np.ndarray:
        """queries x transcripts BM25 over whole transcripts (IDF over transcripts)."""
        variant = Variant(k1=k1, b=b)
        lengths = np.asarray([len(t) for t in self.doc_tokens], dtype=float)
        vocab: dict[str, int] = {}
        docs = _bm25_matrix(self.doc_tokens, vocab, k1, b, avg_len or float(lengths.mean()))
        docs = docs[:, : len(vocab)].tocsc()
        df = np.diff(docs.indptr).astype(np.float64)
        q = _query_matrix(self.queries, variant, vocab, df, float(len(self.records)))
        return (q @ docs.T).toarray().astype(np.float32)

    # --- aggregation ----------------------------------------------------------------------
    def top_chunks(self, chunk_scores: np.ndarray, k: int) -> np.ndarray:
        """queries x transcripts x k: each transcript's k best chunk scores, best first."""
        out = np.empty((chunk_scores.shape[0], len(self.records), k), dtype=np.float32)
        pad = self.pad
        for begin in range(0, chunk_scores.shape[0], BLOCK):
            block = chunk_scores[begin : begin + BLOCK]
            gathered = np.where(pad >= 0, block[:, np.maximum(pad, 0)], -np.inf)
            part = -np.partition(-gathered, k - 1, axis=2)[:, :, :k]
            out[begin : begin + BLOCK] = -np.sort(-part, axis=2)
        return out

    def best(self, chunk_scores: np.ndarray) -> np.ndarray:
        return np.maximum.reduceat(chunk_scores, self.starts, axis=1)

    def fused(self, dense: np.ndarray | None, sparse: np.ndarray, alpha: float) -> np.ndarray:
        """The product's chunk-level convex fusion, collapsed to transcripts at the best chunk;
        transcripts not among the 50 fused chunks score -inf."""
        n, m = sparse.shape
        per_doc = np.full((n, len(self.records)), -np.inf, dtype=np.float32)
        rows = np.arange(n)[:, None]
        combined = np.zeros((n, m), dtype=np.float32)
        present = np.zeros((n, m), dtype=bool)
        for scores, weight in ((sparse, 1 - alpha), (dense, alpha)):
            if scores is None:
                continue
            top = np.argpartition(-scores, CANDIDATES, axis=1)[:, :CANDIDATES]
            vals = scores[rows, top]
            if scores is sparse:
                keep = vals > 0  # a chunk sharing no token is no sparse candidate
            else:
                keep = np.ones_like(vals, dtype=bool)
            low = np.where(keep, vals, np.inf).min(axis=1, keepdims=True)
            high = np.where(keep, vals, -np.inf).max(axis=1, keepdims=True)
            span = high - low
            norm = np.where(span > 0, (vals - low) / np.where(span > 0, span, 1), 1.0)
            combined[rows, top] += np.where(keep, weight * norm, 0)
            present[rows, top] |= keep
        combined = np.where(present, combined, -np.inf)
        top = np.argpartition(-combined, CHUNK_DEPTH, axis=1)[:, :CHUNK_DEPTH]
        vals = combined[rows, top]
        docs = self.owner[top]
        for r in range(n):
            np.maximum.at(per_doc[r], docs[r], vals[r])
        return per_doc


def load_dense(folder: Path, queries: int) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """(query vectors, per window number k the chunk scores of window k for the chunks that have
    one, as (chunk indices, queries x those chunks) pairs...) from `rag_dense_windows.py`'s
    output; only the parts written so far, whole window numbers only."""
    window_chunk = np.load(folder / "window_chunk.npy")
    q = np.load(folder / "queries.npy")[:queries]
    parts = sorted(folder.glob("part*.npy"))
    vectors = np.vstack([np.load(p) for p in parts]) if parts else np.zeros((0, q.shape[1]))
    done = len(vectors)
    # window numbers restart where the chunk index drops
    bounds = np.flatnonzero(np.r_[True, np.diff(window_chunk) <= 0])
    bounds = np.r_[bounds, len(window_chunk)]
    windows = []
    for begin, end in zip(bounds[:-1], bounds[1:], strict=True):
        if end > done:
            break
        windows.append((window_chunk[begin:end], vectors[begin:end]))
    return q, windows, window_chunk


def minmax(per_doc: np.ndarray) -> np.ndarray:
    """Each row scaled to [0, 1] over its transcripts."""
    low = per_doc.min(axis=1, keepdims=True)
    high = per_doc.max(axis=1, keepdims=True)
    return (per_doc - low) / np.maximum(high - low, 1e-12)


def dense_ideas(lab: Lab, folder: Path, chunk_sparse: np.ndarray, best: np.ndarray, show) -> None:
    q, windows, _ = load_dense(folder, len(lab.answers))
    print(f"dense: {len(windows)} window numbers embedded", flush=True)
    if not windows:
        return
    first_idx, first_vec = windows[0]
    assert len(first_idx) == len(lab.owner)
    w0 = q @ first_vec.T
    show("dense, window 0 (product)", lab.best(w0))
    for alpha in (0.1, 0.2, 0.3):
        show(f"  hybrid (product fusion) alpha {alpha}", lab.fused(w0, chunk_sparse, alpha))
    chunk_max = w0.copy()
    summed = first_vec.copy()
    for number, (idx, vec) in enumerate(windows[1:], start=1):
        chunk_max[:, idx] = np.maximum(chunk_max[:, idx], q @ vec.T)
        summed[idx] += vec
        show(f"dense, max over windows 0..{number}", lab.best(chunk_max))
        for alpha in (0.1, 0.2, 0.3, 0.5):
            show(
                f"  hybrid (product fusion) alpha {alpha}",
                lab.fused(chunk_max, chunk_sparse, alpha),
            )
    mean_chunk = summed / np.linalg.norm(summed, axis=1, keepdims=True)
    show("dense, chunk = mean of its windows", lab.best(q @ mean_chunk.T))
    for name, vectors in (("window-0 vectors", first_vec), ("window means", mean_chunk)):
        doc = np.add.reduceat(vectors, lab.starts, axis=0)
        doc /= np.linalg.norm(doc, axis=1, keepdims=True)
        doc_scores = q @ doc.T
        show(f"dense, transcript = mean of chunk {name}", doc_scores)
        for w in (0.1, 0.2, 0.3, 0.5):
            show(
                f"  sparse best chunk (max-norm) + {w} x transcript dense (min-max)",
                minmax(best) + w * minmax(doc_scores),
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/rag_fusion_lab"))
    parser.add_argument("--dense", type=Path, default=None, help="rag_dense_windows.py output")
    parser.add_argument("--max-queries", type=int, default=3000)
    parser.add_argument("--ideas", default="title,doc,dense")
    args = parser.parse_args()
    ideas = set(args.ideas.split(","))
    started = time.perf_counter()
    lab = Lab(args.file, args.cache, args.max_queries)
    answers = lab.answers
    print(f"{len(lab.records)} transcripts, {len(lab.owner)} chunks, {len(answers)} queries")
    print("| idea | recall@1 | recall@5 | recall@10 | MRR |")
    print("|---|---|---|---|---|")

    def show(name: str, per_doc: np.ndarray) -> None:
        m = metrics(per_doc, answers)
        print(
            f"| {name} | {m['r1']:.3f} | {m['r5']:.3f} | {m['r10']:.3f} | {m['mrr']:.3f} |",
            flush=True,
        )

    chunk_sparse = lab.sparse_chunks(Variant())
    best = lab.best(chunk_sparse)
    show("sparse best chunk (product)", np.where(best > 0, best, -np.inf))
    if "docidf" in ideas:
        by_doc = lab.best(lab.sparse_chunks(Variant(), doc_idf=True))
        show("sparse best chunk, IDF over transcripts", np.where(by_doc > 0, by_doc, -np.inf))
    if "title" in ideas:
        period = re.compile(r"^(q[1-4]|h[12]|fy|(19|20)\d\d)$")
        for weight in WEIGHTS:
            titled = lab.best(lab.sparse_titled(weight))
            show(f"title field, query weight {weight}", np.where(titled > 0, titled, -np.inf))
            titled = lab.best(lab.sparse_titled(weight, keep=lambda t: bool(period.match(t))))
            show(
                f"title field, periods only, weight {weight}", np.where(titled > 0, titled, -np.inf)
            )
    if "combo" in ideas:
        period = re.compile(r"^(q[1-4]|h[12]|fy|(19|20)\d\d)$")
        q, windows, _ = load_dense(args.dense, len(answers))
        w0 = q @ windows[0][1].T
        doc = minmax(lab.sparse_docs(0.4, 0.75))
        for name, titled in (
            ("title field w 2", lab.sparse_titled(2.0)),
            (
                "title field periods w 3",
                lab.sparse_titled(3.0, keep=lambda t: bool(period.match(t))),
            ),
        ):
            tb = lab.best(titled)
            show(name, np.where(tb > 0, tb, -np.inf))
            for alpha in (0.2, 0.3):
                fused = lab.fused(w0, titled, alpha)
                show(f"  + hybrid alpha {alpha}", fused)
                finite = np.where(np.isfinite(fused), fused, 0)
                for w in (0.2, 0.5):
                    show(
                        f"  + hybrid alpha {alpha} + {w} x whole-transcript BM25",
                        np.where(np.isfinite(fused), finite + w * doc, -np.inf),
                    )
            for w in (0.3, 0.5):
                show(f"  + {w} x whole-transcript BM25", minmax(tb) + w * doc)
    if "dense" in ideas and args.dense is not None:
        dense_ideas(lab, args.dense, chunk_sparse, best, show)
    if "doc" not in ideas:
        return
    top2 = lab.top_chunks(chunk_sparse, 3)
    top2 = np.where(np.isfinite(top2), top2, 0)
    for w in (0.1, 0.2, 0.3, 0.5):
        show(f"sparse best + {w} x second chunk", top2[:, :, 0] + w * top2[:, :, 1])
    show(
        "sparse best + 0.2 x 2nd + 0.1 x 3rd",
        top2[:, :, 0] + 0.2 * top2[:, :, 1] + 0.1 * top2[:, :, 2],
    )
    for k1, b in (
        (0.4, 0.75),
        (0.4, 0.3),
        (0.4, 0.0),
        (0.8, 0.3),
        (1.2, 0.3),
        (1.2, 0.75),
        (2.0, 0.3),
        (0.2, 0.3),
    ):
        doc = lab.sparse_docs(k1, b)
        show(f"whole-transcript BM25 k1 {k1} b {b}", doc)
        for w in (0.1, 0.2, 0.3, 0.5):
            show(
                f"  best chunk (max-norm) + {w} x whole (max-norm)", minmax(best) + w * minmax(doc)
            )
    print(f"{time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
