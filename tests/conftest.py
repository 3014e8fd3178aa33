"""Shared fixtures: an isolated environment per test, and database engines on SQLite and PostgreSQL.

PostgreSQL and Redis are used when `DATABASE_URL` / `REDIS_URL` are set (as `.ci/run` does);
elsewhere those tests skip. Every test runs in its own temporary folder with no `.env` and none of
the developer's settings.
"""

from __future__ import annotations

import gc
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from orchestrator.config import Settings, get_settings
from orchestrator.store.db import create_db_engine, upgrade_database

SHARED_DIR = Path(__file__).resolve().parents[2] / "shared"
SHARED_DATA = SHARED_DIR / "data"
SHARED_MODELS = SHARED_DIR / "models"

# Captured before the per-test isolation below removes them from the environment.
POSTGRES_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run each test in a clean folder with default settings (no keys, no .env)."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()
    gc.unfreeze()  # a test that ran `fingpt run` in-process froze the heap; give it back


def _postgres_engine() -> Iterator[Engine]:
    if not POSTGRES_URL.startswith("postgresql"):
        pytest.skip("PostgreSQL tests need DATABASE_URL=postgresql://...")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_db_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    engine = create_db_engine(POSTGRES_URL, schema=schema)
    try:
        upgrade_database(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite database in the test's folder."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'var' / 'test.db'}")
    upgrade_database(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated database on each engine: storage tests run on both."""
    if request.param == "sqlite":
        engine = create_db_engine(f"sqlite:///{tmp_path / 'var' / 'test.db'}")
        upgrade_database(engine)
        yield engine
        engine.dispose()
    else:
        yield from _postgres_engine()


@pytest.fixture
def redis_url() -> str:
    if not REDIS_URL:
        pytest.skip("Redis tests need REDIS_URL")
    return REDIS_URL


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not beside this checkout")
    return SHARED_DATA
