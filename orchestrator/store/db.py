"""Engine creation, sessions and migrations.

SQLite (the default, under VAR_DIR) runs in WAL mode so the bot, scheduler and CLI can read while a
cycle writes. PostgreSQL is selected by DATABASE_URL. Migrations run automatically at start.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, create_engine

from orchestrator.config import Settings, get_settings
from orchestrator.errors import ConfigError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_upgrade_lock = threading.Lock()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # NORMAL is durable under WAL except on power loss mid-checkpoint, and much faster than FULL.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Readers and the writer share the file; wait rather than fail on a brief lock.
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def create_db_engine(url: str, *, schema: str | None = None) -> Engine:
    """An engine for `url`. SQLite files get their folder created and WAL mode switched on.

    `schema` (PostgreSQL only) puts every table in that schema via search_path; tests use it to
    isolate runs in one database.
    """
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with a terse message
        raise ConfigError(f"Invalid setting DATABASE_URL={url!r}: not a database URL") from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("", "psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")  # the driver we ship
    connect_args = {"options": f"-csearch_path={schema}"} if schema else {}
    return create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade_database(engine: Engine) -> None:
    """Apply every migration (all heads) to the database behind `engine`."""
    with _upgrade_lock:
        try:
            command.upgrade(alembic_config(engine), "heads")
        except OperationalError as exc:
            reason = " ".join(str(exc.orig).split()).rstrip(".?")  # drivers add line breaks
            raise ConfigError(
                f"Cannot open the database at DATABASE_URL ({engine.url.render_as_string()}): "
                f"{reason}. Check that the server runs and the URL is right."
            ) from exc


@functools.lru_cache(maxsize=4)
def _engine_for(url: str) -> Engine:
    engine = create_db_engine(url)
    upgrade_database(engine)
    return engine


def get_engine(settings: Settings | None = None) -> Engine:
    """The process-wide engine for the configured database, migrated to the latest schema."""
    return _engine_for((settings or get_settings()).database_url)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
