"""The self-tuning signal weights: signal_weights.

Revision ID: 0008_weights
Revises: 0001_base
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from orchestrator.store.base import UTCDateTime

revision = "0008_weights"
down_revision = "0001_base"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signal_weights",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("weights", sa.JSON(), nullable=False),
        sa.Column("hit_rates", sa.JSON(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
    )
    op.create_index("ix_signal_weights_created_at", "signal_weights", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_signal_weights_created_at", table_name="signal_weights")
    op.drop_table("signal_weights")
