"""Settings and database administration."""

from __future__ import annotations

import gc

from orchestrator.config import get_settings
from orchestrator.memory import release_freed_memory
from orchestrator.store.db import get_engine


def settings_view() -> dict[str, str]:
    """Every effective setting by environment-variable name, secrets masked."""
    return get_settings().masked()


def upgrade_database() -> str:
    """Migrate the configured database; returns its URL with any password hidden."""
    engine = get_engine()
    return engine.url.render_as_string(hide_password=True)


def freeze_heap() -> None:
    """Move everything allocated so far out of the garbage collector's sight.

    Long-running faces call it once started (`fingpt run`, the bot, `fingpt cycle` once its
    runtime is built) and `fingpt run` again after each scheduled cycle, whose caches (bars,
    news, features, models) live on. The process holds a large heap of such long-lived objects
    (pandas, SQLAlchemy, the SDKs, the service); a full collection walked them all: 100-200 ms
    that stalled every chat at once in the bot, and 0.1-0.3 s in the middle of a cycle of 50
    tickers. Frozen, they are skipped and only what was created since is walked. Garbage made
    before the freeze is collected first; objects dropped later are still freed by reference
    counting (only cyclic garbage among frozen objects stays).

    The memory freed by the collection and by the cycle is then handed back to the operating
    system (`release_freed_memory`: glibc would keep it, resident, for its own reuse).
    """
    gc.collect()
    gc.freeze()
    release_freed_memory()
