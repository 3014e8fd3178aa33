"""Base schema: the cycle ledger.

Revision ID: 0001_base
Revises:
Create Date: 2026-11-24

Later areas add their tables in migrations whose down_revision is "0001_base" (or their own
previous revision); `upgrade_database` applies every head, so parallel branches need no merge.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from orchestrator.store.base import UTCDateTime

revision = "0001_base"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cycle",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("slot", sa.String(length=64), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("as_of", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.String(), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
    )
    op.create_index("ix_cycle_slot", "cycle", ["slot"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_cycle_slot", table_name="cycle")
    op.drop_table("cycle")
