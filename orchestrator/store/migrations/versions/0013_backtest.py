"""Backtest runs: one row per `fingpt backtest` with its settings and metrics.

Revision ID: 0013_backtest
Revises: 0001_base
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from orchestrator.store.base import UTCDateTime

revision = "0013_backtest"
down_revision = "0001_base"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "backtest",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.String(), nullable=False),
        sa.Column("start", sa.Date(), nullable=False),
        sa.Column("end", sa.Date(), nullable=False),
        sa.Column("rebalance", sa.String(length=16), nullable=False),
        sa.Column("engine", sa.String(length=64), nullable=False),
        sa.Column("adaptive", sa.Boolean(), nullable=False),
        sa.Column("data", sa.String(length=255), nullable=False),
        sa.Column("starting_cash", sa.Float(), nullable=False),
        sa.Column("tickers", sa.JSON(), nullable=False),
        sa.Column("sessions", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("out_dir", sa.String(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
    )
    op.create_index("ix_backtest_created_at", "backtest", ["created_at"])


def downgrade() -> None:
    op.drop_table("backtest")
