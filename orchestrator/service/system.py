"""Settings and database administration."""

from __future__ import annotations

import ctypes
import functools
import gc
import os
from collections.abc import Callable

from orchestrator.config import get_settings
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

    The freed memory is then handed back to the operating system (`release_freed_memory`).
    """
    gc.collect()
    gc.freeze()
    release_freed_memory()


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, or None on another C library (musl, macOS, Windows)."""
    try:
        os.confstr("CS_GNU_LIBC_VERSION")  # raises (or is missing) off glibc
        return ctypes.CDLL("libc.so.6").malloc_trim  # type: ignore[no-any-return]
    except (AttributeError, OSError, ValueError):
        return None


def release_freed_memory() -> bool:
    """Return the heap pages that hold only freed blocks to the OS; False where unsupported.

    glibc keeps freed memory for reuse, so a cycle's temporary buffers (the embedding model's
    batches, pandas frames, parsed news) stayed in the resident size of an idle `fingpt run`:
    ~50-100 MB after one cycle (docs/benchmarks/ops.md). `malloc_trim(0)` walks every malloc
    arena and gives back what is free; it takes a few milliseconds and changes no data.
    """
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
