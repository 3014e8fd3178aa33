"""Analysis: sentiment item cache and forecast model registry.

Revision ID: 0006_analysis
Revises: 0001_base
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from orchestrator.store.base import UTCDateTime

revision = "0006_analysis"
down_revision = "0001_base"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sentiment_item",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("text_hash", sa.String(length=64), nullable=False),
        sa.Column("engine", sa.String(length=128), nullable=False),
        sa.Column("label", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("text_hash", "engine", name="uq_sentiment_item_hash"),
    )
    op.create_table(
        "forecast_model",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("trained_as_of", UTCDateTime(), nullable=False),
        sa.Column("train_start", sa.Date(), nullable=False),
        sa.Column("train_end", sa.Date(), nullable=False),
        sa.Column("n_samples", sa.Integer(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_forecast_model_name", "forecast_model", ["name"])
    op.create_index("ix_forecast_model_trained_as_of", "forecast_model", ["trained_as_of"])


def downgrade() -> None:
    op.drop_index("ix_forecast_model_trained_as_of", table_name="forecast_model")
    op.drop_index("ix_forecast_model_name", table_name="forecast_model")
    op.drop_table("forecast_model")
    op.drop_table("sentiment_item")
