"""The knowledge base: ingest documents (de-duplicated, resumable) and search them point-in-time.

Ingestion: each `SourceDocument` is keyed by the sha256 of its text. A document already
"complete" in the `document` registry for this collection is skipped (same content, nothing
added). Otherwise its row is set to "partial", any chunks a previous interrupted run left are
deleted, its chunks are embedded and upserted (deterministic point ids: uuid5 of hash and chunk
number, so a redo overwrites rather than duplicates), and the row is marked "complete". Documents
are processed in groups of about `GROUP_CHUNKS` chunks so the encoder sees full batches even for
short news items.

Search: `search(query, as_of=...)` never returns a chunk published after `as_of`: the bound is a
filter inside the vector search (Qdrant payload `published_ts` or the local mirror's mask), so it
cannot be bypassed by ranking. Results carry text, source, title, type, tickers, date and score.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
from sqlalchemy.engine import Engine

from orchestrator.analysis.rag.chunking import Chunk, chunk_text
from orchestrator.analysis.rag.embeddings import Embedder, build_embedder, llama_embedding
from orchestrator.analysis.rag.fusion import DEFAULT_ALPHA, FusionMethod
from orchestrator.analysis.rag.ingest import SourceDocument
from orchestrator.analysis.rag.local_index import MirrorFilter
from orchestrator.analysis.rag.store import (
    KnowledgeStore,
    close_location,
    collection_name,
    open_store,
)
from orchestrator.config import Settings
from orchestrator.store import knowledge as registry
from orchestrator.store.db import session_scope

GROUP_CHUNKS = 128  # chunks embedded per group: full encoder batches, bounded memory
CANDIDATES = 50  # per list before fusion: deep enough that fusion can promote a rank-40 hit
_NAMESPACE = uuid.UUID("6f1c2a4e-6a8b-4b0e-9d7e-2f6f2b1c5a10")

SearchMode = Literal["hybrid", "dense", "sparse"]


@dataclass(frozen=True)
class SearchHit:
    text: str
    source: str
    title: str
    doc_type: str
    tickers: tuple[str, ...]
    published_at: datetime
    score: float
    doc_id: str
    section: str = ""


@dataclass
class IngestReport:
    documents: int = 0
    added: int = 0
    skipped: int = 0
    redone: int = 0
    chunks: int = 0
    seconds: float = 0.0
    interrupted: bool = False

    @property
    def chunks_per_second(self) -> float:
        return self.chunks / self.seconds if self.seconds > 0 else 0.0


@dataclass
class _Group:
    """New documents to ingest together, and how many input documents they stand for."""

    entries: list[tuple[SourceDocument, str, bool]] = field(default_factory=list)
    documents: int = 0  # input documents consumed, skipped ones included
    skipped: int = 0


@dataclass
class _Embedded:
    """A group's chunks (a list per document) and their dense vectors, in order."""

    group: _Group
    chunks: list[list[Chunk]]
    vectors: np.ndarray | None  # None when the group has no chunk


def _nodes(embedded: _Embedded) -> list[Any]:
    """llama-index `TextNode`s of an embedded group, point ids deterministic (a redo
    overwrites rather than duplicates)."""
    from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

    nodes: list[Any] = []
    for (document, digest, _), chunks in zip(embedded.group.entries, embedded.chunks, strict=True):
        metadata = {
            "tickers": list(document.tickers),
            "doc_type": document.doc_type,
            "published_at": document.published_at.astimezone(UTC).isoformat(),
            "published_ts": _timestamp(document.published_at),
            "source": document.source,
            "title": document.title,
        }
        for chunk in chunks:
            meta = dict(metadata, section=chunk.section, chunk=chunk.index)
            nodes.append(
                TextNode(
                    id_=str(uuid.uuid5(_NAMESPACE, f"{digest}:{chunk.index}")),
                    text=chunk.text,
                    metadata=meta,
                    # Metadata stays out of the embedded and sparse text: titles and dates
                    # would otherwise dominate short chunks.
                    excluded_embed_metadata_keys=list(meta),
                    excluded_llm_metadata_keys=list(meta),
                    relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=digest)},
                )
            )
    if embedded.vectors is not None:
        for node, vector in zip(nodes, embedded.vectors, strict=True):
            node.embedding = vector.tolist()
    return nodes


def _timestamp(moment: datetime) -> float:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass a tz-aware datetime")
    return moment.timestamp()


class KnowledgeBase:
    """Documents in one Qdrant collection (per embedding model) plus the SQL source registry."""

    def __init__(self, settings: Settings, engine: Engine, embedder: Embedder | None = None):
        # Nothing heavy here: a runtime opens the knowledge base at start, and loading the model
        # (and quantising it on first run) takes seconds. It happens on the first ingest/search.
        self.settings = settings
        self.engine = engine
        self._embedder = embedder
        self._llama: Any = None
        self._open_lock = threading.Lock()

    @property
    def embedder(self) -> Embedder:
        """The dense encoder, loaded on first use (raises `ConfigError` if it cannot be)."""
        with self._open_lock:
            if self._embedder is None:
                self._embedder = build_embedder(self.settings)
            return self._embedder

    @property
    def store(self) -> KnowledgeStore:
        """The Qdrant collection of this embedder (opened, or reopened after `close`, on use)."""
        embedder = self.embedder
        if self._llama is None:
            self._llama = llama_embedding(embedder)
        return open_store(self.settings, embedder.identity, embedder.dim, self._llama)

    @property
    def collection(self) -> str:
        """The collection's name (known without opening Qdrant, which takes a second or two)."""
        return collection_name(self.embedder.identity)

    def close(self) -> None:
        """Release the Qdrant client of this location (local storage: its folder lock)."""
        close_location(self.settings)

    # --- ingestion ---------------------------------------------------------------------------
    def ingest(
        self,
        documents: Iterable[SourceDocument],
        *,
        on_progress: Callable[[int, int], None] | None = None,
        stop: threading.Event | None = None,
    ) -> IngestReport:
        """Add documents; `on_progress(documents_done, chunks_done)` after each group.

        Setting `stop` (from another thread, e.g. on Ctrl-C) ends the run after the group being
        written, with `report.interrupted` set; running again resumes where it stopped.

        Two groups are in flight: while a writer thread stores group N (llama-index nodes, sparse
        vectors, Qdrant, the local mirror), this one chunks and embeds group N+1 (onnxruntime
        releases the GIL); the writer also opens the store (imports, Qdrant, mirror) while the
        first group is embedded. The registry is only touched from this thread, in order: a
        group's rows become "partial" just before its write starts and "complete" once it has
        finished.
        """
        report = IngestReport()
        started = time.perf_counter()
        writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kb-writer")
        # Opened while the first group is embedded; a failure here shows again in the first write.
        writer.submit(lambda: self.store)
        pending: tuple[Future[None], _Embedded] | None = None
        try:
            for group in self._groups(documents):
                embedded = self._embed(group)
                if pending is not None:
                    self._finish(*pending, report, on_progress)
                    pending = None
                    if stop is not None and stop.is_set():
                        report.interrupted = True  # `embedded` is dropped: nothing begun yet
                        break
                self._begin(embedded)
                pending = writer.submit(self._write, embedded), embedded
            if pending is not None:
                self._finish(*pending, report, on_progress)
                report.interrupted = stop is not None and stop.is_set()
        finally:
            writer.shutdown(wait=True)  # a failed run still lets the write under way end
        report.seconds = time.perf_counter() - started
        return report

    def _groups(self, documents: Iterable[SourceDocument]) -> Iterator[_Group]:
        group = _Group()
        words = 0
        seen: set[str] = set()
        for document in documents:
            group.documents += 1
            digest = document.content_hash
            with session_scope(self.engine) as session:
                known = registry.find_document(session, self.collection, digest)
            if digest in seen or (known is not None and known.status == registry.COMPLETE):
                group.skipped += 1
                continue
            seen.add(digest)
            group.entries.append((document, digest, known is not None))
            words += len(document.text.split())
            if words >= GROUP_CHUNKS * 200:
                yield group
                group, words = _Group(), 0
        if group.documents:
            yield group

    def _embed(self, group: _Group) -> _Embedded:
        """Chunk a group's documents and embed the chunks (no llama-index here: its import and
        node objects belong to the writer thread)."""
        chunks = [chunk_text(document.text) for document, _, _ in group.entries]
        texts = [chunk.text for document_chunks in chunks for chunk in document_chunks]
        vectors = self.embedder.embed_documents(texts) if texts else None
        return _Embedded(group, chunks, vectors)

    def _begin(self, embedded: _Embedded) -> None:
        with session_scope(self.engine) as session:
            for document, digest, _ in embedded.group.entries:
                registry.begin_document(
                    session,
                    self.collection,
                    digest,
                    source=document.source,
                    title=document.title,
                    doc_type=document.doc_type,
                    tickers=document.tickers,
                    published_at=document.published_at,
                )

    def _write(self, embedded: _Embedded) -> None:
        """The writer thread's part: clear what an interrupted run left, store the nodes."""
        for _, digest, partial in embedded.group.entries:
            if partial:  # an interrupted run left some chunks: start this document clean
                self.store.delete_document(digest)
        self.store.add_nodes(_nodes(embedded))

    def _finish(
        self,
        written: Future[None],
        embedded: _Embedded,
        report: IngestReport,
        on_progress: Callable[[int, int], None] | None,
    ) -> None:
        written.result()  # re-raises the writer's error here
        group = embedded.group
        with session_scope(self.engine) as session:
            for (_, digest, _), chunks in zip(group.entries, embedded.chunks, strict=True):
                registry.complete_document(session, self.collection, digest, len(chunks))
        report.documents += group.documents
        report.skipped += group.skipped
        report.added += len(group.entries)
        report.redone += sum(partial for _, _, partial in group.entries)
        report.chunks += sum(len(chunks) for chunks in embedded.chunks)
        if on_progress is not None:
            on_progress(report.documents, report.chunks)

    # --- search ------------------------------------------------------------------------------
    def search(
        self,
        query: str,
        *,
        as_of: datetime,
        tickers: Iterable[str] = (),
        doc_types: Iterable[str] = (),
        since: datetime | None = None,
        k: int = 5,
        mode: SearchMode = "hybrid",
        alpha: float = DEFAULT_ALPHA,
        method: FusionMethod = "convex",
        candidates: int = CANDIDATES,
        doc_ids: Iterable[str] = (),
        native: bool = False,
    ) -> list[SearchHit]:
        """The best `k` chunks published at or before `as_of` (and at or after `since`)."""
        where = MirrorFilter(
            max_published_ts=_timestamp(as_of),
            min_published_ts=_timestamp(since) if since is not None else None,
            doc_types=frozenset(doc_types),
            tickers=frozenset(t.upper() for t in tickers),
            doc_ids=frozenset(doc_ids),
        )
        dense = self.embedder.embed_query(query) if mode in ("hybrid", "dense") else None
        text = query if mode in ("hybrid", "sparse") else None
        hits = self.store.search(
            dense,
            text,
            where,
            top_k=k,
            candidates=max(candidates, k),
            alpha=alpha,
            method=method,
            native=native,
        )
        return [_hit(stored.payload, stored.score) for stored in hits]

    def count_chunks(self) -> int:
        return self.store.count()

    def document_counts(self) -> dict[str, int]:
        with session_scope(self.engine) as session:
            return registry.document_counts(session, self.collection)


def _hit(payload: dict[str, Any], score: float) -> SearchHit:
    text = ""
    content = payload.get("_node_content")
    if isinstance(content, str):
        text = str(json.loads(content).get("text", ""))
    return SearchHit(
        text=text,
        source=str(payload.get("source", "")),
        title=str(payload.get("title", "")),
        doc_type=str(payload.get("doc_type", "")),
        tickers=tuple(payload.get("tickers") or ()),
        published_at=datetime.fromtimestamp(float(payload.get("published_ts", 0.0)), tz=UTC),
        score=score,
        doc_id=str(payload.get("doc_id", "")),
        section=str(payload.get("section", "")),
    )
