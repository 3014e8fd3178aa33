"""The RAG source registry: `document`.

Revision ID: 0005_knowledge
Revises: 0001_base
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from orchestrator.store.base import UTCDateTime

revision = "0005_knowledge"
down_revision = "0001_base"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "document",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("collection", sa.String(length=128), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("doc_type", sa.String(length=16), nullable=False),
        sa.Column("tickers", sa.String(length=255), nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("collection", "content_hash", name="uq_document_hash"),
    )
    op.create_index("ix_document_collection", "document", ["collection"])
    op.create_index("ix_document_doc_type", "document", ["doc_type"])


def downgrade() -> None:
    op.drop_index("ix_document_doc_type", table_name="document")
    op.drop_index("ix_document_collection", table_name="document")
    op.drop_table("document")
