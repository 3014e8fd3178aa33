"""LLM call log (also the replay cache) and per-chat memory.

Revision ID: 0003_llm
Revises: 0001_base
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from orchestrator.store.base import UTCDateTime

revision = "0003_llm"
down_revision = "0001_base"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "llm_call",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("task", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("endpoint_host", sa.String(length=255), nullable=False),
        sa.Column("template", sa.String(length=64), nullable=False),
        sa.Column("template_version", sa.String(length=16), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("tokens_estimated", sa.Boolean(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("retries", sa.Integer(), nullable=False),
        sa.Column("cached", sa.Boolean(), nullable=False),
        sa.Column("cycle_id", sa.Integer(), nullable=True),
        sa.Column("chat_id", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
    )
    op.create_index("ix_llm_call_created_at", "llm_call", ["created_at"])
    op.create_index("ix_llm_call_task", "llm_call", ["task"])
    op.create_index("ix_llm_call_request_hash", "llm_call", ["request_hash"])
    op.create_index("ix_llm_call_cycle_id", "llm_call", ["cycle_id"])
    op.create_index("ix_llm_call_chat_id", "llm_call", ["chat_id"])

    op.create_table(
        "chat_message",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_chat_message_chat_id", "chat_message", ["chat_id"])


def downgrade() -> None:
    op.drop_index("ix_chat_message_chat_id", table_name="chat_message")
    op.drop_table("chat_message")
    for column in ("chat_id", "cycle_id", "request_hash", "task", "created_at"):
        op.drop_index(f"ix_llm_call_{column}", table_name="llm_call")
    op.drop_table("llm_call")
