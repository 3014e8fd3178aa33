"""Retrieval-augmented knowledge: news, filings, transcripts and the bot's own records.

llama-index over Qdrant (local storage or a server), fastembed or OpenAI-compatible dense
embeddings, a locally computed BM25 sparse vector that keeps number tokens, and a documented
fusion of the two (`fusion.py`). `build_knowledge_base(settings, engine)` is the one factory.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from orchestrator.analysis.rag.ingest import SourceDocument
from orchestrator.analysis.rag.knowledge import IngestReport, KnowledgeBase, SearchHit
from orchestrator.config import Settings


def build_knowledge_base(settings: Settings, engine: Engine) -> KnowledgeBase:
    """The knowledge base the settings describe (Qdrant location, embedding provider/model).

    Raises `ConfigError` when the embedding model or Qdrant cannot be opened.
    """
    return KnowledgeBase(settings, engine)


__all__ = ["IngestReport", "KnowledgeBase", "SearchHit", "SourceDocument", "build_knowledge_base"]
