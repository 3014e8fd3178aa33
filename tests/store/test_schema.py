"""The hand-written migrations must build exactly the tables the models declare."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine

from orchestrator.store import tables  # noqa: F401  (registers every table)
from orchestrator.store.base import metadata

# Differences autogenerate reports that are not real drift: SQLite cannot reflect some details.
_IGNORED = {"modify_nullable", "modify_default", "modify_comment"}


def _flatten(diffs: list) -> list:
    flat = []
    for diff in diffs:
        flat.extend(diff if isinstance(diff, list) else [diff])
    return flat


def test_migrations_match_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), metadata)
    real = [d for d in _flatten(diffs) if d[0] not in _IGNORED and d[0] != "remove_table"]
    removed = [
        d for d in _flatten(diffs) if d[0] == "remove_table" and d[1].name != "apscheduler_jobs"
    ]
    assert real + removed == []
