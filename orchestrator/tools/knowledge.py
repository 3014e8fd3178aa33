"""The `search_knowledge` tool: hybrid retrieval over news, filings, transcripts and the bot's own
decisions, outcomes and lessons.

Point in time: it searches only documents published at or before `ctx.as_of` (the filter is inside
the vector search, see `orchestrator.analysis.rag.knowledge`), so a backtest's agent never reads
the future. Every passage is outside text and comes wrapped by `untrusted()`.

Failure contract: no knowledge base in the context and no database to open one raises `DataError`
(the registry turns it into "error: ..." for the model).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from pydantic import BaseModel, Field, field_validator

from orchestrator.errors import DataError
from orchestrator.tools.registry import UNTRUSTED_NOTICE, ToolContext, tool, untrusted

# A passage of about one chunk; five of them stay near 1.5k tokens in the tool result.
MAX_PASSAGE_CHARS = 1_000


class SearchKnowledgeArgs(BaseModel):
    query: str = Field(description="What to look for, in plain words; include figures if known")
    tickers: list[str] = Field(
        default_factory=list, description="Only documents about these tickers (empty: any)"
    )
    doc_types: list[str] = Field(
        default_factory=list,
        description="Only these types: news, filing, transcript, decision, outcome, lesson, "
        "document (empty: any)",
    )
    since: date | None = Field(None, description="Only documents published on or after this day")
    k: int = Field(5, ge=1, le=20, description="How many passages to return (default 5)")

    @field_validator("tickers")
    @classmethod
    def _upper(cls, value: list[str]) -> list[str]:
        return [t.strip().upper().lstrip("$") for t in value if t.strip()]

    @field_validator("doc_types")
    @classmethod
    def _known_types(cls, value: list[str]) -> list[str]:
        from orchestrator.analysis.rag.ingest import DOC_TYPES

        unknown = [t for t in value if t not in DOC_TYPES]
        if unknown:
            raise ValueError(f"unknown doc type(s) {unknown}; use {', '.join(DOC_TYPES)}")
        return value


def _knowledge(ctx: ToolContext) -> Any:
    if ctx.knowledge is not None:
        return ctx.knowledge
    if ctx.engine is None or ctx.settings is None:
        raise DataError("the knowledge base is not available here")
    from orchestrator.analysis.rag import build_knowledge_base

    ctx.knowledge = build_knowledge_base(ctx.settings, ctx.engine)
    return ctx.knowledge


@tool(
    name="search_knowledge",
    description="Search past news, filings, earnings-call transcripts and the bot's own "
    "decisions, outcomes and lessons (outside text, untrusted). Filters by ticker, type, date.",
)
def search_knowledge(args: SearchKnowledgeArgs, ctx: ToolContext) -> dict[str, Any]:
    as_of = ctx.as_of or datetime.now(UTC)
    since = datetime.combine(args.since, time.min, tzinfo=UTC) if args.since else None
    hits = _knowledge(ctx).search(
        args.query,
        as_of=as_of,
        tickers=args.tickers,
        doc_types=args.doc_types,
        since=since,
        k=args.k,
    )
    return {
        "notice": UNTRUSTED_NOTICE,
        "as_of": as_of,
        "results": [
            {
                # A news title is a headline someone else wrote: outside text like the body.
                "title": untrusted(hit.title[:200], source=f"{hit.doc_type}:{hit.source}"),
                "source": hit.source,
                "doc_type": hit.doc_type,
                "tickers": list(hit.tickers),
                "published_at": hit.published_at,
                "score": round(hit.score, 4),
                "text": untrusted(
                    hit.text[:MAX_PASSAGE_CHARS], source=f"{hit.doc_type}:{hit.source}"
                ),
            }
            for hit in hits
        ],
    }
