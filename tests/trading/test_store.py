from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine

from orchestrator.domain import Fill, Side
from orchestrator.store import tables  # noqa: F401  (registers every table)
from orchestrator.store.base import metadata
from orchestrator.store.db import session_scope
from orchestrator.store.trading import (
    ApprovalRow,
    add_fill,
    claim_approval,
    fills_for,
    load_trading_state,
)

TRADING_TABLES = {
    "trade_proposal",
    "risk_verdict",
    "approval",
    "order",
    "fill",
    "sim_account",
    "sim_position",
    "position_snapshot",
    "equity_snapshot",
    "trading_state",
}


def _about_trading_tables(diff: object) -> bool:
    text = repr(diff)
    return any(f"'{name}'" in text for name in TRADING_TABLES)


def test_migration_matches_the_table_definitions(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diffs = [d for d in compare_metadata(context, metadata) if _about_trading_tables(d)]
    assert diffs == []


def test_a_fill_seen_twice_is_stored_once(engine: Engine) -> None:
    fill = Fill(
        client_order_id="c1",
        symbol="AAPL",
        side=Side.BUY,
        quantity=3,
        price=10.0,
        timestamp=datetime.now(UTC),
    )
    with session_scope(engine) as session:
        assert add_fill(session, fill, "3")
    with session_scope(engine) as session:
        assert not add_fill(session, fill, "3")
        assert len(fills_for(session, "c1")) == 1


def test_an_approval_is_claimed_once(engine: Engine) -> None:
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        session.add(
            ApprovalRow(
                id="ABC234",
                symbol="AAPL",
                side="buy",
                quantity=1,
                price=10,
                notional=10,
                expires_at=now + timedelta(minutes=5),
            )
        )
    with session_scope(engine) as session:
        assert claim_approval(session, "ABC234", "approved", by="admin", at=now)
    with session_scope(engine) as session:
        assert not claim_approval(session, "ABC234", "rejected", by="admin", at=now)
        assert session.get(ApprovalRow, "ABC234").status == "approved"


def test_trading_state_is_created_once_with_a_namespace(engine: Engine) -> None:
    with session_scope(engine) as session:
        first = load_trading_state(session).namespace
    with session_scope(engine) as session:
        assert load_trading_state(session).namespace == first
