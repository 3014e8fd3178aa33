"""The cycle's analysis ledger and the feedback loop: candidate_analysis, decision_outcome, lesson.

Revision ID: 0007_feedback
Revises: 0001_base
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from orchestrator.store.base import UTCDateTime

revision = "0007_feedback"
down_revision = "0001_base"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "candidate_analysis",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("as_of", UTCDateTime(), nullable=False),
        sa.Column("price", sa.Float(), nullable=True),
        sa.Column("signals", sa.JSON(), nullable=False),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.Column("error", sa.String(), nullable=False),
    )
    op.create_index("ix_candidate_analysis_cycle_id", "candidate_analysis", ["cycle_id"])
    op.create_index("ix_candidate_analysis_symbol", "candidate_analysis", ["symbol"])
    op.create_table(
        "decision_outcome",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("cycle_id", sa.Integer(), nullable=True),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=False),
        sa.Column("horizon_days", sa.Integer(), nullable=False),
        sa.Column("entry_price", sa.Float(), nullable=False),
        sa.Column("exit_price", sa.Float(), nullable=False),
        sa.Column("return_pct", sa.Float(), nullable=False),
        sa.Column("benchmark_return_pct", sa.Float(), nullable=False),
        sa.Column("excess_return_pct", sa.Float(), nullable=False),
        sa.Column("hit", sa.Boolean(), nullable=False),
        sa.Column("signals_agreed", sa.JSON(), nullable=False),
        sa.Column("evaluated_at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ix_decision_outcome_proposal_id", "decision_outcome", ["proposal_id"], unique=True
    )
    op.create_index("ix_decision_outcome_symbol", "decision_outcome", ["symbol"])
    op.create_table(
        "lesson",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("symbol", sa.String(length=16), nullable=True),
        sa.Column("text", sa.String(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
    )
    op.create_index("ix_lesson_created_at", "lesson", ["created_at"])
    op.create_index("ix_lesson_symbol", "lesson", ["symbol"])


def downgrade() -> None:
    op.drop_table("lesson")
    op.drop_table("decision_outcome")
    op.drop_table("candidate_analysis")
