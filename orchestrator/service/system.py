"""Settings and database administration."""

from __future__ import annotations

from orchestrator.config import get_settings
from orchestrator.store.db import get_engine


def settings_view() -> dict[str, str]:
    """Every effective setting by environment-variable name, secrets masked."""
    return get_settings().masked()


def upgrade_database() -> str:
    """Migrate the configured database; returns its URL with any password hidden."""
    engine = get_engine()
    return engine.url.render_as_string(hide_password=True)
