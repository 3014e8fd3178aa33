"""Persistence: SQLModel tables, engine and session handling, Alembic migrations.

SQL lives here only. Repository functions take a `Session` and return domain objects.
"""

from __future__ import annotations

from orchestrator.store.db import create_db_engine, get_engine, session_scope, upgrade_database

__all__ = ["create_db_engine", "get_engine", "session_scope", "upgrade_database"]
