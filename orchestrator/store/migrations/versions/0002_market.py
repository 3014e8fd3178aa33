"""Market data cache: bars, fetched bar ranges, news items, their symbols and fetched windows.

Revision ID: 0002_market
Revises: 0001_base
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from orchestrator.store.base import UTCDateTime

revision = "0002_market"
down_revision = "0001_base"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "market_bar",
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("bar_interval", sa.String(length=8), nullable=False),
        sa.Column("session_date", sa.Date(), nullable=False),
        sa.Column("open", sa.Float(), nullable=False),
        sa.Column("high", sa.Float(), nullable=False),
        sa.Column("low", sa.Float(), nullable=False),
        sa.Column("close", sa.Float(), nullable=False),
        sa.Column("volume", sa.Float(), nullable=False),
        sa.Column("fetched_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("provider", "symbol", "bar_interval", "session_date"),
    )
    op.create_table(
        "market_bar_range",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("bar_interval", sa.String(length=8), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("fetched_at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ix_market_bar_range_key", "market_bar_range", ["provider", "symbol", "bar_interval"]
    )
    op.create_table(
        "market_news",
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("news_id", sa.String(length=128), nullable=False),
        sa.Column("symbols", sa.Text(), nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=False),
        sa.Column("headline", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("provider", "news_id"),
    )
    op.create_index("ix_market_news_published_at", "market_news", ["published_at"])
    op.create_table(
        "market_news_symbol",
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("news_id", sa.String(length=128), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("provider", "news_id", "symbol"),
    )
    op.create_index(
        "ix_market_news_symbol_lookup", "market_news_symbol", ["provider", "symbol"]
    )
    op.create_table(
        "market_news_range",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("start_at", UTCDateTime(), nullable=True),
        sa.Column("end_at", UTCDateTime(), nullable=False),
        sa.Column("fetched_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_market_news_range_key", "market_news_range", ["provider", "symbol"])


def downgrade() -> None:
    op.drop_index("ix_market_news_range_key", table_name="market_news_range")
    op.drop_table("market_news_range")
    op.drop_index("ix_market_news_symbol_lookup", table_name="market_news_symbol")
    op.drop_table("market_news_symbol")
    op.drop_index("ix_market_news_published_at", table_name="market_news")
    op.drop_table("market_news")
    op.drop_index("ix_market_bar_range_key", table_name="market_bar_range")
    op.drop_table("market_bar_range")
    op.drop_table("market_bar")
