"""Fusion of dense and sparse result lists into one ranking.

Two documented methods (measured side by side in docs/benchmarks/rag.md):

* ``convex`` (default): each list's scores are min-max normalised to [0, 1] over its own
  candidates, then ``alpha * dense + (1 - alpha) * sparse``; a point missing from a list scores 0
  there. Raw cosine and BM25 scores live on different scales, so they are never added raw.
* ``rrf``: reciprocal rank fusion, ``sum 1 / (RRF_K + rank)`` over the lists (rank from 1).
  Scale-free, but it ignores how far ahead the leader of a list is.

`llama_fusion` adapts `fuse` to llama-index's ``HybridFusionCallable`` so the Qdrant server path
(`QdrantVectorStore.query` in hybrid mode) and the local numpy path rank identically.
"""

from __future__ import annotations

from typing import Any, Literal

from orchestrator.analysis.rag.local_index import Candidate

FusionMethod = Literal["convex", "rrf"]

# Weight of the dense list in the convex combination. On ECTSum (figures) 0.1-0.3 are within
# 0.01 recall@5 of each other and higher values fall fast (docs/benchmarks/rag.md); 0.3 keeps
# dense similarity useful for the agent's questions in words while figures still decide.
DEFAULT_ALPHA = 0.3
RRF_K = 60  # the constant from Cormack et al. (2009); damps the influence of the very top ranks


def _normalised(candidates: list[Candidate]) -> dict[str, float]:
    if not candidates:
        return {}
    scores = [c.score for c in candidates]
    low, high = min(scores), max(scores)
    span = high - low
    return {c.point_id: (c.score - low) / span if span > 0 else 1.0 for c in candidates}


def fuse(
    dense: list[Candidate],
    sparse: list[Candidate],
    *,
    top_k: int,
    alpha: float = DEFAULT_ALPHA,
    method: FusionMethod = "convex",
) -> list[Candidate]:
    """One ranking of at most `top_k` points from both lists, best first."""
    combined: dict[str, float] = {}
    if method == "rrf":
        for ranking in (dense, sparse):
            for rank, candidate in enumerate(ranking, start=1):
                combined[candidate.point_id] = combined.get(candidate.point_id, 0.0) + 1.0 / (
                    RRF_K + rank
                )
    else:
        dense_n, sparse_n = _normalised(dense), _normalised(sparse)
        for point_id in dense_n.keys() | sparse_n.keys():
            combined[point_id] = alpha * dense_n.get(point_id, 0.0) + (1 - alpha) * sparse_n.get(
                point_id, 0.0
            )
    ranked = sorted(combined.items(), key=lambda item: (-item[1], item[0]))
    return [Candidate(point_id, score) for point_id, score in ranked[:top_k]]


def llama_fusion(
    dense_result: Any,
    sparse_result: Any,
    alpha: float = DEFAULT_ALPHA,
    top_k: int = 10,
    method: FusionMethod = "convex",
) -> Any:
    """llama-index `HybridFusionCallable`: fuse two `VectorStoreQueryResult`s with `fuse`."""
    from llama_index.core.vector_stores.types import VectorStoreQueryResult

    nodes = {}
    lists: list[list[Candidate]] = []
    for result in (dense_result, sparse_result):
        candidates = []
        for node, score in zip(result.nodes or [], result.similarities or [], strict=False):
            nodes[node.node_id] = node
            candidates.append(Candidate(node.node_id, float(score)))
        lists.append(candidates)
    fused = fuse(lists[0], lists[1], top_k=top_k, alpha=alpha, method=method)
    return VectorStoreQueryResult(
        nodes=[nodes[c.point_id] for c in fused],
        similarities=[c.score for c in fused],
        ids=[c.point_id for c in fused],
    )
