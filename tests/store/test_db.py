from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from orchestrator.errors import ConfigError
from orchestrator.store.cycles import CycleRow, latest_cycles
from orchestrator.store.db import create_db_engine, get_engine, session_scope, upgrade_database


def test_cycle_rows_round_trip_with_aware_times(engine: Engine) -> None:
    as_of = datetime(2015, 3, 2, 15, 30, tzinfo=timezone(timedelta(hours=-5)))
    with session_scope(engine) as session:
        session.add(CycleRow(slot="2015-03-02T15:30", mode="demo", as_of=as_of, record={"n": 3}))
    with session_scope(engine) as session:
        (row,) = latest_cycles(session)
    assert row.as_of == as_of
    assert row.as_of.tzinfo is not None
    assert row.record == {"n": 3}


def test_a_schedule_slot_is_stored_once(engine: Engine) -> None:
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        session.add(CycleRow(slot="slot-1", mode="paper", as_of=now))
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        session.add(CycleRow(slot="slot-1", mode="paper", as_of=now))


def test_migrations_are_idempotent(engine: Engine) -> None:
    upgrade_database(engine)
    assert "cycle" in inspect(engine).get_table_names()


def test_sqlite_runs_in_wal_mode(tmp_path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'sub' / 'db.sqlite'}")
    with engine.connect() as connection:
        mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
    assert mode == "wal"


def test_a_bad_database_url_names_the_setting() -> None:
    with pytest.raises(ConfigError, match=r"Invalid setting DATABASE_URL='not a url'"):
        create_db_engine("not a url")


def test_an_unreachable_server_says_what_to_check() -> None:
    engine = create_db_engine("postgresql://nobody@127.0.0.1:9/nothing")
    with pytest.raises(ConfigError, match=r"Cannot open the database at DATABASE_URL.*server runs"):
        upgrade_database(engine)
    assert "nobody@127.0.0.1:9" in engine.url.render_as_string()


def test_the_configured_database_is_migrated_on_first_use(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'fresh' / 'app.db'}")
    from orchestrator.config import get_settings

    get_settings.cache_clear()
    tables = set(inspect(get_engine()).get_table_names())
    assert {"cycle", "llm_call", "chat_message", "market_bar", "market_news"} <= tables
    assert (tmp_path / "fresh" / "app.db").is_file()
