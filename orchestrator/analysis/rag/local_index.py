"""An in-memory numpy/scipy mirror of a local Qdrant collection, for fast filtered hybrid search.

qdrant-client's local (embedded) mode scores sparse vectors with a pure-Python merge loop per
point and evaluates payload filters per point in Python: at 20,000 chunks one hybrid query took
seconds (docs/benchmarks/rag.md). Qdrant's server does both natively. In local mode the knowledge
base therefore keeps this mirror of the same vectors and filter fields and answers queries from it:

* dense: one float32 matrix product;
* sparse: a CSC matrix of BM25 term weights; a query sums the columns of its tokens weighted by
  ``ln(1 + (N - df + 0.5) / (df + 0.5))``, the IDF formula of Qdrant's ``Modifier.IDF``, so scores
  equal the server's;
* filters (published_at <= as_of, since, doc types, tickers, document ids) are boolean masks
  applied BEFORE ranking, so a filtered-out chunk can never occupy a top-k slot.

Qdrant stays the store of record: the mirror is rebuilt from it when a collection is opened and
appended to on every write. It is not thread-safe on its own; `KnowledgeStore` serialises access.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse as sp

_GROW = 4096  # rows added to the dense matrix at a time (amortised appends)


@dataclass(frozen=True)
class Candidate:
    point_id: str
    score: float


@dataclass(frozen=True)
class MirrorFilter:
    """Filters in plain values; timestamps are POSIX seconds."""

    max_published_ts: float | None = None
    min_published_ts: float | None = None
    doc_types: frozenset[str] = frozenset()
    tickers: frozenset[str] = frozenset()
    doc_ids: frozenset[str] = frozenset()


class LocalIndex:
    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._dense = np.zeros((0, dim), dtype=np.float32)
        self._size = 0
        self._ids: list[str] = []
        self._row_of: dict[str, int] = {}
        self._published: list[float] = []
        self._doc_type: list[str] = []
        self._doc_id: list[str] = []
        self._tickers: dict[str, list[int]] = {}
        self._deleted: list[bool] = []
        self._vocab: dict[int, int] = {}
        self._rows: list[int] = []
        self._cols: list[int] = []
        self._vals: list[float] = []
        self._csc: sp.csc_matrix | None = None
        self._df: np.ndarray | None = None
        self._arrays: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return self._size - int(sum(self._deleted))

    def add(
        self,
        point_id: str,
        dense: Sequence[float] | np.ndarray,
        sparse_indices: Sequence[int],
        sparse_values: Sequence[float],
        *,
        published_ts: float,
        doc_type: str,
        doc_id: str,
        tickers: Iterable[str],
    ) -> None:
        """Add (or replace) one point."""
        if point_id in self._row_of:
            self._deleted[self._row_of[point_id]] = True
        row = self._size
        if row >= self._dense.shape[0]:
            grown = np.zeros((self._dense.shape[0] + _GROW, self.dim), dtype=np.float32)
            grown[:row] = self._dense[:row]
            self._dense = grown
        self._dense[row] = np.asarray(dense, dtype=np.float32)
        self._size += 1
        self._ids.append(point_id)
        self._row_of[point_id] = row
        self._published.append(published_ts)
        self._doc_type.append(doc_type)
        self._doc_id.append(doc_id)
        self._deleted.append(False)
        for ticker in tickers:
            self._tickers.setdefault(ticker.upper(), []).append(row)
        if len(sparse_indices) != len(sparse_values):
            raise ValueError("sparse indices and values differ in length")
        vocab = self._vocab  # ~200 entries a chunk: list builders, not appends one by one
        self._rows.extend([row] * len(sparse_indices))
        self._cols.extend([vocab.setdefault(int(index), len(vocab)) for index in sparse_indices])
        self._vals.extend(map(float, sparse_values))
        self._csc = None
        self._arrays = None

    def document_of(self, point_id: str) -> str:
        """The document id (content hash) a point belongs to."""
        return self._doc_id[self._row_of[point_id]]

    def delete_document(self, doc_id: str) -> int:
        """Mark every point of `doc_id` deleted; returns how many."""
        removed = 0
        for row, owner in enumerate(self._doc_id):
            if owner == doc_id and not self._deleted[row]:
                self._deleted[row] = True
                removed += 1
        if removed:
            self._csc = None
            self._arrays = None
        return removed

    def _prepare(self) -> None:
        if self._arrays is None:
            self._arrays = (
                np.asarray(self._published, dtype=np.float64),
                np.asarray(self._doc_type, dtype=object),
                np.asarray(self._doc_id, dtype=object),
                np.asarray(self._deleted, dtype=bool),
            )
        if self._csc is None:
            shape = (self._size, max(len(self._vocab), 1))
            matrix = sp.csr_matrix((self._vals, (self._rows, self._cols)), shape=shape)
            live = sp.diags((~self._arrays[3]).astype(np.float32))
            self._csc = sp.csc_matrix(live @ matrix)
            # Document frequency over live points only, as Qdrant counts it.
            self._df = np.diff(self._csc.indptr).astype(np.float64)

    def _mask(self, where: MirrorFilter) -> np.ndarray:
        assert self._arrays is not None
        published, doc_type, doc_id, deleted = self._arrays
        mask = ~deleted
        if where.max_published_ts is not None:
            mask &= published <= where.max_published_ts
        if where.min_published_ts is not None:
            mask &= published >= where.min_published_ts
        if where.doc_types:
            mask &= np.isin(doc_type, list(where.doc_types))
        if where.doc_ids:
            mask &= np.isin(doc_id, list(where.doc_ids))
        if where.tickers:
            hit = np.zeros(self._size, dtype=bool)
            for ticker in where.tickers:
                hit[self._tickers.get(ticker.upper(), [])] = True
            mask &= hit
        return mask

    @staticmethod
    def _top(scores: np.ndarray, mask: np.ndarray, limit: int, ids: list[str]) -> list[Candidate]:
        scores = np.where(mask, scores, -np.inf)
        if limit < scores.size:
            best = np.argpartition(-scores, limit)[:limit]
        else:
            best = np.arange(scores.size)
        best = best[np.argsort(-scores[best], kind="stable")]
        return [Candidate(ids[i], float(scores[i])) for i in best if np.isfinite(scores[i])]

    def search(
        self,
        dense_query: np.ndarray | None,
        sparse_query: tuple[Sequence[int], Sequence[float]] | None,
        where: MirrorFilter,
        limit: int,
    ) -> tuple[list[Candidate], list[Candidate]]:
        """Top `limit` dense and sparse candidates among points passing `where`."""
        if self._size == 0:
            return [], []
        self._prepare()
        assert self._csc is not None and self._df is not None
        mask = self._mask(where)
        dense: list[Candidate] = []
        if dense_query is not None:
            scores = self._dense[: self._size] @ np.asarray(dense_query, dtype=np.float32)
            dense = self._top(scores, mask, limit, self._ids)
        sparse_hits: list[Candidate] = []
        if sparse_query is not None:
            cols, weights = [], []
            live = float(len(self))
            for index, value in zip(*sparse_query, strict=True):
                col = self._vocab.get(int(index))
                if col is None:
                    continue
                df = self._df[col]
                cols.append(col)
                weights.append(value * np.log(1.0 + (live - df + 0.5) / (df + 0.5)))
            if cols:
                sub = self._csc[:, cols]
                scores = np.asarray(sub @ np.asarray(weights)).ravel()
                touched = np.zeros(self._size, dtype=bool)
                touched[sub.indices] = True  # no shared token: no sparse score at all
                sparse_hits = self._top(scores, mask & touched, limit, self._ids)
        return dense, sparse_hits
