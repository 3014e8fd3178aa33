"""The `document` table: the RAG source registry (content-hash de-duplication, resumable ingest).

One row per (collection, content hash). `status` is "partial" from the moment chunks start being
written until every chunk is stored, then "complete". Ingesting skips a complete row (the same
content adds nothing) and redoes a partial one from scratch after deleting its chunks, so an
interrupted run resumes cleanly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Text, UniqueConstraint
from sqlmodel import Column, Field, Session, SQLModel, func, select

from orchestrator.store.base import utc_field, utcnow

PARTIAL = "partial"
COMPLETE = "complete"


class DocumentRow(SQLModel, table=True):
    __tablename__ = "document"
    __table_args__ = (UniqueConstraint("collection", "content_hash", name="uq_document_hash"),)

    id: int | None = Field(default=None, primary_key=True)
    collection: str = Field(max_length=128, index=True)
    content_hash: str = Field(max_length=64)
    source: str = Field(sa_column=Column(Text, nullable=False))
    title: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    doc_type: str = Field(max_length=16, index=True)
    tickers: str = Field(default="", max_length=255)  # comma list, upper case
    published_at: datetime = utc_field()
    status: str = Field(default=PARTIAL, max_length=16)
    chunks: int = 0
    created_at: datetime = utc_field(default_now=True)
    completed_at: datetime | None = utc_field(nullable=True)


@dataclass(frozen=True)
class DocumentInfo:
    content_hash: str
    source: str
    title: str
    doc_type: str
    tickers: tuple[str, ...]
    published_at: datetime
    status: str
    chunks: int


def _info(row: DocumentRow) -> DocumentInfo:
    return DocumentInfo(
        content_hash=row.content_hash,
        source=row.source,
        title=row.title,
        doc_type=row.doc_type,
        tickers=tuple(t for t in row.tickers.split(",") if t),
        published_at=row.published_at,
        status=row.status,
        chunks=row.chunks,
    )


def find_document(session: Session, collection: str, content_hash: str) -> DocumentInfo | None:
    row = session.exec(
        select(DocumentRow).where(
            DocumentRow.collection == collection, DocumentRow.content_hash == content_hash
        )
    ).first()
    return _info(row) if row else None


def begin_document(
    session: Session,
    collection: str,
    content_hash: str,
    *,
    source: str,
    title: str,
    doc_type: str,
    tickers: tuple[str, ...],
    published_at: datetime,
) -> None:
    """Register (or reset to partial) the row for a document about to be written."""
    row = session.exec(
        select(DocumentRow).where(
            DocumentRow.collection == collection, DocumentRow.content_hash == content_hash
        )
    ).first()
    if row is None:
        row = DocumentRow(
            collection=collection, content_hash=content_hash, published_at=published_at
        )
    row.source = source[:2000]
    row.title = title[:500]
    row.doc_type = doc_type
    row.tickers = ",".join(tickers)[:255]
    row.published_at = published_at
    row.status = PARTIAL
    row.chunks = 0
    row.completed_at = None
    session.add(row)


def complete_document(session: Session, collection: str, content_hash: str, chunks: int) -> None:
    row = session.exec(
        select(DocumentRow).where(
            DocumentRow.collection == collection, DocumentRow.content_hash == content_hash
        )
    ).one()
    row.status = COMPLETE
    row.chunks = chunks
    row.completed_at = utcnow()
    session.add(row)


def document_counts(session: Session, collection: str) -> dict[str, int]:
    """Documents per status in one collection."""
    rows = session.exec(
        select(DocumentRow.status, func.count())
        .where(DocumentRow.collection == collection)
        .group_by(DocumentRow.status)
    ).all()
    return {status: int(count) for status, count in rows}
