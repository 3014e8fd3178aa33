"""Embed every ECTSum chunk in consecutive 64-token windows (and the summary lines), cached as .npy.

    nice -n 19 .venv/bin/python bench/rag_dense_windows.py [--out /tmp/rag_dense_lab]

The product's dense vector of a ~200-word chunk reads only its first 64 word pieces (~50 words;
`embeddings.DEFAULT_MAX_TOKENS`). This script measures what fuller dense coverage would give:
each chunk (the product's chunker, same chunks as `bench/rag_lexical_lab.py`) is cut into windows
of `WINDOW` word pieces at the tokenizer's offsets, and every window is embedded with the
product's encoder (int8, 64 tokens). Window 0 is the product's own vector. Output, resumable
(a finished part is never recomputed):

* ``windows.npy`` float32 (W, 384), ``window_chunk.npy`` int32 (W,): the chunk of each window
  (every chunk's window 0 first, then every window 1, ...; ``partNNN.npy`` while running);
* ``chunk_doc.npy`` int32 (C,): the transcript (row of the file) of each chunk;
* ``queries.npy`` float32 (Q, 384): the same evenly spaced summary lines as the lab.

`bench/rag_fusion_lab.py` reads these to rank by max-over-windows, document means and so on.
It also prints the encoder's windows per second (the ingest cost of embedding every window).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from orchestrator.analysis.rag.chunking import chunk_text
from orchestrator.analysis.rag.embeddings import FastEmbedEmbedder
from orchestrator.analysis.rag.evaluate import ectsum_queries
from orchestrator.analysis.rag.ingest import read_ectsum

SHARED = Path(__file__).resolve().parents[2] / "shared"
DEFAULT_FILE = SHARED / "data/transcripts/ectsum_train.jsonl.gz"
DEFAULT_MODEL = SHARED / "models/all-MiniLM-L6-v2-onnx"
WINDOW = 62  # word pieces per window: 64 with [CLS] and [SEP]
PART = 4096  # windows embedded and saved at a time (resumable)


def sample_queries(records: list, max_queries: int) -> list[tuple[str, str]]:
    """The evenly spaced summary lines of `bench/rag_retrieval.py --max-queries`."""
    queries = ectsum_queries(records)
    if max_queries and len(queries) > max_queries:
        step = len(queries) / max_queries
        queries = [queries[int(i * step)] for i in range(max_queries)]
    return queries


def windows_of(text: str, tokenizer) -> list[str]:  # type: ignore[no-untyped-def]
    """`text` cut into pieces of at most WINDOW word pieces, at token offsets."""
    offsets = [span for span in tokenizer.encode(text, add_special_tokens=False).offsets]
    pieces = []
    for start in range(0, len(offsets), WINDOW):
        part = offsets[start : start + WINDOW]
        pieces.append(text[part[0][0] : part[-1][1]])
    return pieces or [text]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--out", type=Path, default=Path("/tmp/rag_dense_lab"))
    parser.add_argument("--max-queries", type=int, default=3000)
    args = parser.parse_args()
    from tokenizers import Tokenizer

    args.out.mkdir(parents=True, exist_ok=True)
    records = list(read_ectsum(args.file))
    tokenizer = Tokenizer.from_file(str(args.model / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    per_chunk: list[list[str]] = []
    chunk_doc: list[int] = []
    for doc, record in enumerate(records):
        for chunk in chunk_text(record.document.text):
            per_chunk.append(windows_of(chunk.text, tokenizer))
            chunk_doc.append(doc)
    # All first windows, then all second windows, ...: a partial run already gives the
    # product's vectors (window 0) and max-over-the-first-k-windows.
    texts: list[str] = []
    window_chunk: list[int] = []
    for number in range(max(len(w) for w in per_chunk)):
        for chunk, pieces in enumerate(per_chunk):
            if number < len(pieces):
                texts.append(pieces[number])
                window_chunk.append(chunk)
    np.save(args.out / "window_chunk.npy", np.asarray(window_chunk, dtype=np.int32))
    np.save(args.out / "chunk_doc.npy", np.asarray(chunk_doc, dtype=np.int32))
    print(f"{len(records)} transcripts, {len(chunk_doc)} chunks, {len(texts)} windows", flush=True)

    embedder = FastEmbedEmbedder(
        "sentence-transformers/all-MiniLM-L6-v2", model_path=args.model, cache_dir=args.out
    )
    queries = sample_queries(records, args.max_queries)
    if not (args.out / "queries.npy").is_file():
        np.save(args.out / "queries.npy", embedder.embed_documents([q for q, _ in queries]))
    parts = []
    for number, begin in enumerate(range(0, len(texts), PART)):
        path = args.out / f"part{number:03d}.npy"
        if not path.is_file():
            started, cpu = time.perf_counter(), time.process_time()
            vectors = embedder.embed_documents(texts[begin : begin + PART])
            np.save(path, vectors)
            wall, used = time.perf_counter() - started, time.process_time() - cpu
            print(
                f"part {number}: {len(vectors)} windows, {len(vectors) / wall:.1f}/s wall, "
                f"{len(vectors) / used:.1f} per CPU-second",
                flush=True,
            )
        parts.append(np.load(path))
    np.save(args.out / "windows.npy", np.vstack(parts))
    print("done", flush=True)


if __name__ == "__main__":
    main()
