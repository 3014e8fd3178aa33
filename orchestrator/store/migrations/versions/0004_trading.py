"""Trading tables: proposals, verdicts, approvals, orders, fills, sim account, snapshots, state.

Revision ID: 0004_trading
Revises: 0001_base
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from orchestrator.store.base import UTCDateTime

revision = "0004_trading"
down_revision = "0001_base"
branch_labels = None
depends_on = None


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer(), primary_key=True)


def upgrade() -> None:
    op.create_table(
        "trade_proposal",
        _id(),
        sa.Column("cycle_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("quantity", sa.Float(), nullable=True),
        sa.Column("target_weight", sa.Float(), nullable=True),
        sa.Column("order_type", sa.String(length=8), nullable=False),
        sa.Column("limit_price", sa.Float(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("horizon_days", sa.Integer(), nullable=True),
        sa.Column("rationale", sa.String(), nullable=False),
        sa.Column("evidence_ids", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("drop_reason", sa.String(), nullable=False),
        sa.Column("raw", sa.JSON(), nullable=False),
    )
    op.create_index("ix_trade_proposal_cycle_id", "trade_proposal", ["cycle_id"])

    op.create_table(
        "risk_verdict",
        _id(),
        sa.Column("proposal_id", sa.Integer(), nullable=True),
        sa.Column("cycle_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("quantity", sa.Float(), nullable=False),
        sa.Column("price", sa.Float(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("clamps", sa.JSON(), nullable=False),
    )
    op.create_index("ix_risk_verdict_proposal_id", "risk_verdict", ["proposal_id"])
    op.create_index("ix_risk_verdict_cycle_id", "risk_verdict", ["cycle_id"])

    op.create_table(
        "approval",
        sa.Column("id", sa.String(length=12), primary_key=True),
        sa.Column("proposal_id", sa.Integer(), nullable=True),
        sa.Column("verdict_id", sa.Integer(), nullable=True),
        sa.Column("cycle_id", sa.Integer(), nullable=True),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("quantity", sa.Float(), nullable=False),
        sa.Column("order_type", sa.String(length=8), nullable=False),
        sa.Column("limit_price", sa.Float(), nullable=True),
        sa.Column("price", sa.Float(), nullable=False),
        sa.Column("notional", sa.Float(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("rationale", sa.String(), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("clamps", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("resolved_by", sa.String(length=64), nullable=False),
        sa.Column("note", sa.String(), nullable=False),
        sa.Column("client_order_id", sa.String(length=64), nullable=True),
    )
    op.create_index("ix_approval_proposal_id", "approval", ["proposal_id"])
    op.create_index("ix_approval_status", "approval", ["status"])

    op.create_table(
        "order",
        _id(),
        sa.Column("client_order_id", sa.String(length=64), nullable=False),
        sa.Column("broker", sa.String(length=16), nullable=False),
        sa.Column("broker_order_id", sa.String(length=64), nullable=True),
        sa.Column("cycle_id", sa.Integer(), nullable=True),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("quantity", sa.Float(), nullable=False),
        sa.Column("order_type", sa.String(length=8), nullable=False),
        sa.Column("limit_price", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("filled_quantity", sa.Float(), nullable=False),
        sa.Column("avg_fill_price", sa.Float(), nullable=True),
        sa.Column("submitted_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
    )
    op.create_index("ix_order_client_order_id", "order", ["client_order_id"], unique=True)
    op.create_index("ix_order_status", "order", ["status"])

    op.create_table(
        "fill",
        _id(),
        sa.Column("client_order_id", sa.String(length=64), nullable=False),
        sa.Column("fill_key", sa.String(length=64), nullable=False),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("quantity", sa.Float(), nullable=False),
        sa.Column("price", sa.Float(), nullable=False),
        sa.Column("fee", sa.Float(), nullable=False),
        sa.Column("timestamp", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("client_order_id", "fill_key", name="uq_fill_key"),
    )
    op.create_index("ix_fill_client_order_id", "fill", ["client_order_id"])

    op.create_table(
        "sim_account",
        _id(),
        sa.Column("cash", sa.Float(), nullable=False),
        sa.Column("starting_cash", sa.Float(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "sim_position",
        sa.Column("symbol", sa.String(length=16), primary_key=True),
        sa.Column("quantity", sa.Float(), nullable=False),
        sa.Column("avg_price", sa.Float(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "position_snapshot",
        _id(),
        sa.Column("taken_at", UTCDateTime(), nullable=False),
        sa.Column("broker", sa.String(length=16), nullable=False),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("quantity", sa.Float(), nullable=False),
        sa.Column("avg_price", sa.Float(), nullable=False),
        sa.Column("market_price", sa.Float(), nullable=False),
    )
    op.create_index("ix_position_snapshot_taken_at", "position_snapshot", ["taken_at"])
    op.create_table(
        "equity_snapshot",
        _id(),
        sa.Column("taken_at", UTCDateTime(), nullable=False),
        sa.Column("broker", sa.String(length=16), nullable=False),
        sa.Column("cash", sa.Float(), nullable=False),
        sa.Column("equity", sa.Float(), nullable=False),
        sa.Column("gross_exposure", sa.Float(), nullable=False),
    )
    op.create_index("ix_equity_snapshot_taken_at", "equity_snapshot", ["taken_at"])
    op.create_table(
        "trading_state",
        _id(),
        sa.Column("namespace", sa.String(length=8), nullable=False),
        sa.Column("kill_switch", sa.Boolean(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("halted_session", sa.Date(), nullable=True),
        sa.Column("halt_reason", sa.String(), nullable=False),
        sa.Column("day_session", sa.Date(), nullable=True),
        sa.Column("day_start_equity", sa.Float(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "trading_state",
        "equity_snapshot",
        "position_snapshot",
        "sim_position",
        "sim_account",
        "fill",
        "order",
        "approval",
        "risk_verdict",
        "trade_proposal",
    ):
        op.drop_table(table)
