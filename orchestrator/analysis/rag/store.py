"""Qdrant storage through llama-index: one collection per embedding model, local or server.

* `qdrant_client_for(settings)`: QDRANT_URL selects a server, otherwise embedded storage at
  QDRANT_PATH. qdrant-client's local mode allows ONE client per folder per process (a second one
  fails on the folder lock), so clients are cached per location here and shared; `close_all()`
  closes them (at exit, and in tests to simulate a restart).
* `KnowledgeStore`: a llama-index `QdrantVectorStore` (hybrid: a dense vector "text-dense" and a
  sparse BM25 vector "text-sparse-new" with Qdrant's IDF modifier) behind a `VectorStoreIndex`,
  which is the ingestion layer. Collection name ``kb_<embedder identity>-sparse<VERSION>``
  (model, dimension, int8/fp32, max tokens; version of the sparse token rules) so vectors of
  different encoders never mix.
* Search: a server answers natively (`QdrantVectorStore.query`, mode HYBRID, filters in the Qdrant
  payload). Local mode answers from `LocalIndex`, a numpy mirror, because qdrant-client's local
  sparse scoring and payload filtering are per-point Python (seconds per query at 20k chunks).
  Filters are applied inside the search in both cases, never to results after the fact.

Failure contract: a Qdrant server that cannot be reached raises `ConfigError` naming QDRANT_URL;
a locked local folder (another process holds it) raises `ConfigError` naming QDRANT_PATH.
"""

from __future__ import annotations

import atexit
import functools
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from qdrant_client import QdrantClient
from qdrant_client.http import models as rest

from orchestrator.analysis.rag.fusion import DEFAULT_ALPHA, FusionMethod, fuse, llama_fusion
from orchestrator.analysis.rag.local_index import Candidate, LocalIndex, MirrorFilter
from orchestrator.analysis.rag.sparse import VERSION as SPARSE_VERSION
from orchestrator.analysis.rag.sparse import sparse_doc_fn, sparse_query_fn
from orchestrator.config import Settings
from orchestrator.errors import ConfigError

DENSE = "text-dense"
SPARSE = "text-sparse-new"
_SCROLL_BATCH = 1_000

_lock = threading.RLock()
_clients: dict[str, QdrantClient] = {}
_stores: dict[tuple[str, str], KnowledgeStore] = {}


def _location(settings: Settings) -> str:
    if settings.qdrant_url:
        return f"url:{settings.qdrant_url}"
    assert settings.qdrant_path is not None  # filled from VAR_DIR by Settings
    return f"path:{settings.qdrant_path.resolve()}"


def qdrant_client_for(settings: Settings) -> QdrantClient:
    """The shared client for the configured Qdrant location (created on first use)."""
    key = _location(settings)
    with _lock:
        client = _clients.get(key)
        if client is not None:
            return client
        try:
            if settings.qdrant_url:
                api_key = (
                    settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
                )
                client = QdrantClient(url=settings.qdrant_url, api_key=api_key, timeout=30)
                client.get_collections()  # fail now, with a clear message, not mid-ingest
            else:
                assert settings.qdrant_path is not None
                settings.qdrant_path.mkdir(parents=True, exist_ok=True)
                with warnings.catch_warnings():
                    # "Local mode is not recommended for more than 20,000 points": its slow
                    # query path is not used here, the `LocalIndex` mirror answers searches.
                    warnings.filterwarnings("ignore", "Local mode is not recommended")
                    client = QdrantClient(path=str(settings.qdrant_path))
        except Exception as exc:
            where = (
                f"QDRANT_URL={settings.qdrant_url}"
                if settings.qdrant_url
                else f"QDRANT_PATH={settings.qdrant_path}"
            )
            raise ConfigError(
                f"Cannot open Qdrant at {where}: {exc}. Start the server, fix the setting, or "
                "stop the other process using that folder."
            ) from exc
        _clients[key] = client
        return client


def close_all() -> None:
    """Close every cached client (releases local folder locks); later use reopens them."""
    with _lock:
        for client in _clients.values():
            client.close()
        _clients.clear()
        _stores.clear()


def close_location(settings: Settings) -> None:
    """Close the client (and forget the stores) of one Qdrant location, if open."""
    key = _location(settings)
    with _lock:
        client = _clients.pop(key, None)
        for store_key in [k for k in _stores if k[0] == key]:
            del _stores[store_key]
        if client is not None:
            client.close()


atexit.register(close_all)


def _fast_local_commits(client: QdrantClient, collection: str) -> None:
    """Put a local collection's SQLite file in WAL mode with synchronous=NORMAL.

    qdrant-client's local mode commits once per point; with SQLite's default rollback journal
    every commit waits for an fsync (about 6 ms here, so storage alone capped ingestion near
    150 chunks/s). In WAL mode a commit is an append and survives a crash of the process; only
    a power cut can lose the last commits, and the `document` registry then still says
    "complete": re-ingest with a fresh QDRANT_PATH if that ever happens.
    """
    local = getattr(client, "_client", None)
    collections = getattr(local, "collections", {}) or {}
    storage = getattr(collections.get(collection), "storage", None)
    connection = getattr(storage, "storage", None)
    if connection is not None:  # a private layout: skip quietly if a release changes it
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")


@dataclass
class StoredHit:
    point_id: str
    score: float
    payload: dict[str, Any] = field(default_factory=dict)


def _qdrant_filter(where: MirrorFilter) -> rest.Filter | None:
    must: list[Any] = []
    if where.max_published_ts is not None or where.min_published_ts is not None:
        must.append(
            rest.FieldCondition(
                key="published_ts",
                range=rest.Range(lte=where.max_published_ts, gte=where.min_published_ts),
            )
        )
    for key, values in (
        ("doc_type", where.doc_types),
        ("tickers", where.tickers),
        ("doc_id", where.doc_ids),
    ):
        if values:
            must.append(rest.FieldCondition(key=key, match=rest.MatchAny(any=sorted(values))))
    return rest.Filter(must=must) if must else None


class KnowledgeStore:
    """One collection: ingestion through llama-index, hybrid search with filters."""

    def __init__(
        self, client: QdrantClient, collection: str, dim: int, *, local: bool, embed_model: Any
    ) -> None:
        from llama_index.core import StorageContext, VectorStoreIndex
        from llama_index.vector_stores.qdrant import QdrantVectorStore

        self.client = client
        self.collection = collection
        self.dim = dim
        self.local = local
        self._lock = threading.RLock()
        if not client.collection_exists(collection):
            client.create_collection(
                collection,
                vectors_config={DENSE: rest.VectorParams(size=dim, distance=rest.Distance.COSINE)},
                sparse_vectors_config={SPARSE: rest.SparseVectorParams(modifier=rest.Modifier.IDF)},
            )
            if not local:  # payload indexes make server-side filtering fast; local ignores them
                for name, schema in (
                    ("published_ts", rest.PayloadSchemaType.FLOAT),
                    ("doc_type", rest.PayloadSchemaType.KEYWORD),
                    ("tickers", rest.PayloadSchemaType.KEYWORD),
                    ("doc_id", rest.PayloadSchemaType.KEYWORD),
                ):
                    client.create_payload_index(collection, name, field_schema=schema)
        if local:
            _fast_local_commits(client, collection)
        # Sparse vectors computed once per write: `add_nodes` fills this, llama-index reads it.
        self._sparse_ready: dict[str, tuple[list[int], list[float]]] = {}
        self.vector_store = QdrantVectorStore(
            collection_name=collection,
            client=client,
            enable_hybrid=True,
            sparse_doc_fn=self._sparse_docs,
            sparse_query_fn=sparse_query_fn,
            hybrid_fusion_fn=llama_fusion,
            dense_vector_name=DENSE,
            sparse_vector_name=SPARSE,
            index_doc_id=False,
            batch_size=256,
        )
        self.index = VectorStoreIndex.from_vector_store(
            self.vector_store,
            embed_model=embed_model,
            storage_context=StorageContext.from_defaults(vector_store=self.vector_store),
        )
        self.mirror: LocalIndex | None = LocalIndex(dim) if local else None
        if self.mirror is not None:
            self._load_mirror()

    def _sparse_docs(
        self, texts: list[str], titles: list[str] | None = None
    ) -> tuple[list[list[int]], list[list[float]]]:
        # llama-index calls this with texts only; `add_nodes` first fills the cache with the
        # titled vectors (the title field, `sparse.title_tokens`) of exactly those texts.
        titled = titles if titles is not None else [""] * len(texts)
        missing = {t: x for t, x in zip(texts, titled, strict=True) if t not in self._sparse_ready}
        if missing:
            indices, values = sparse_doc_fn(list(missing), list(missing.values()))
            self._sparse_ready.update(zip(missing, zip(indices, values, strict=True), strict=True))
        pairs = [self._sparse_ready[text] for text in texts]
        return [list(p[0]) for p in pairs], [list(p[1]) for p in pairs]

    def _load_mirror(self) -> None:
        assert self.mirror is not None
        offset = None
        while True:
            points, offset = self.client.scroll(
                self.collection,
                limit=_SCROLL_BATCH,
                offset=offset,
                with_payload=["published_ts", "doc_type", "doc_id", "tickers"],
                with_vectors=True,
            )
            for point in points:
                vectors: Any = point.vector
                payload = point.payload or {}
                sparse = vectors[SPARSE]
                self.mirror.add(
                    str(point.id),
                    vectors[DENSE],
                    sparse.indices,
                    sparse.values,
                    published_ts=float(payload.get("published_ts", 0.0)),
                    doc_type=str(payload.get("doc_type", "")),
                    doc_id=str(payload.get("doc_id", "")),
                    tickers=payload.get("tickers") or [],
                )
            if offset is None:
                break

    def count(self) -> int:
        return self.client.count(self.collection, exact=True).count

    def add_nodes(self, nodes: list[Any]) -> None:
        """Upsert llama-index `TextNode`s whose `embedding` is already set."""
        if not nodes:
            return
        with self._lock:
            for batch in _distinct_texts(nodes):
                self._add_batch(batch)

    def _add_batch(self, nodes: list[Any]) -> None:
        """`add_nodes` for nodes whose texts are distinct (the sparse cache is keyed by text)."""
        texts = [node.get_content() for node in nodes]
        titles = [str(node.metadata.get("title", "")) for node in nodes]
        indices, values = self._sparse_docs(texts, titles)
        try:
            self.index.insert_nodes(nodes)
        finally:
            self._sparse_ready.clear()
        if self.mirror is not None:
            for node, idx, val in zip(nodes, indices, values, strict=True):
                meta = node.metadata
                self.mirror.add(
                    node.node_id,
                    node.embedding,
                    idx,
                    val,
                    published_ts=float(meta["published_ts"]),
                    doc_type=str(meta["doc_type"]),
                    doc_id=str(node.ref_doc_id),
                    tickers=meta.get("tickers") or [],
                )

    def delete_document(self, doc_id: str) -> None:
        """Remove every chunk of one source document (by its content hash)."""
        with self._lock:
            self.vector_store.delete(doc_id)
            if self.mirror is not None:
                self.mirror.delete_document(doc_id)

    def search(
        self,
        dense_query: np.ndarray | None,
        query_text: str | None,
        where: MirrorFilter,
        *,
        top_k: int,
        candidates: int = 50,
        alpha: float = DEFAULT_ALPHA,
        method: FusionMethod = "convex",
        native: bool = False,
    ) -> list[StoredHit]:
        """Best `top_k` chunks passing `where`. Dense-only without text, sparse-only without
        a vector, hybrid with both (`candidates` from each list are fused). `native` forces
        Qdrant's own search even in local mode (slow; used to check the mirror agrees)."""
        if self.mirror is None or native:
            with self._lock:
                self.vector_store.set_query_functions(
                    sparse_doc_fn=self._sparse_docs,
                    sparse_query_fn=sparse_query_fn,
                    hybrid_fusion_fn=functools.partial(llama_fusion, method=method),
                )
                return self._server_search(dense_query, query_text, where, top_k, candidates, alpha)
        sparse_query = None
        if query_text is not None:
            indices, values = sparse_query_fn([query_text])
            sparse_query = (indices[0], values[0])
        with self._lock:
            dense, sparse = self.mirror.search(
                dense_query, sparse_query, where, max(candidates, top_k)
            )
        if dense_query is None or query_text is None:
            ranked = (dense or sparse)[:top_k]
        else:
            ranked = fuse(dense, sparse, top_k=top_k, alpha=alpha, method=method)
        return self._with_payloads(ranked)

    def _with_payloads(self, ranked: list[Candidate]) -> list[StoredHit]:
        if not ranked:
            return []
        points = self.client.retrieve(self.collection, [c.point_id for c in ranked])
        payloads = {str(p.id): p.payload or {} for p in points}
        return [StoredHit(c.point_id, c.score, payloads.get(c.point_id, {})) for c in ranked]

    def _server_search(
        self,
        dense_query: np.ndarray | None,
        query_text: str | None,
        where: MirrorFilter,
        top_k: int,
        candidates: int,
        alpha: float,
    ) -> list[StoredHit]:
        from llama_index.core.vector_stores.types import VectorStoreQuery, VectorStoreQueryMode

        if dense_query is None:
            mode = VectorStoreQueryMode.SPARSE
        elif query_text is None:
            mode = VectorStoreQueryMode.DEFAULT
        else:
            mode = VectorStoreQueryMode.HYBRID
        query = VectorStoreQuery(
            query_embedding=dense_query.tolist() if dense_query is not None else [0.0] * self.dim,
            query_str=query_text,
            similarity_top_k=top_k if mode != VectorStoreQueryMode.HYBRID else candidates,
            sparse_top_k=candidates if mode == VectorStoreQueryMode.HYBRID else top_k,
            hybrid_top_k=top_k,
            alpha=alpha,
            mode=mode,
        )
        result = self.vector_store.query(query, qdrant_filters=_qdrant_filter(where))
        ids = list(result.ids or [])
        scores = list(result.similarities or [])
        return self._with_payloads([Candidate(i, s) for i, s in zip(ids, scores, strict=False)])


def _distinct_texts(nodes: list[Any]) -> list[list[Any]]:
    """`nodes` in order, split so that no list holds two nodes with the same text (two documents
    may share a chunk's text under different titles, so different sparse vectors)."""
    batches: list[list[Any]] = []
    seen: list[set[str]] = []
    for node in nodes:
        text = node.get_content()
        slot = next((i for i, texts in enumerate(seen) if text not in texts), len(seen))
        if slot == len(seen):
            batches.append([])
            seen.append(set())
        batches[slot].append(node)
        seen[slot].add(text)
    return batches


def collection_name(identity: str) -> str:
    """The collection of an embedder identity under today's sparse token rules."""
    # The sparse encoder's version is part of the name: vectors written under older token rules
    # would silently mis-score against today's queries, so such a collection is left as it was
    # and documents are ingested afresh into the new one (the registry is per collection).
    return f"kb_{identity}-sparse{SPARSE_VERSION}"


def open_store(settings: Settings, identity: str, dim: int, embed_model: Any) -> KnowledgeStore:
    """The shared `KnowledgeStore` for this Qdrant location and embedder identity."""
    key = (_location(settings), collection_name(identity))
    with _lock:
        store = _stores.get(key)
        if store is None:
            client = qdrant_client_for(settings)
            store = KnowledgeStore(
                client, key[1], dim, local=not settings.qdrant_url, embed_model=embed_model
            )
            _stores[key] = store
        return store


__all__ = [
    "KnowledgeStore",
    "StoredHit",
    "close_all",
    "close_location",
    "collection_name",
    "open_store",
    "qdrant_client_for",
]
