"""Handing freed memory back to the operating system (issue 7: an idle `fingpt run` < 500 MB).

glibc keeps the memory a process frees for its own reuse, so the temporary buffers of a cycle
(the embedding model's batches, pandas frames, parsed news) or an unloaded model stayed in the
resident size of an idle service. `release_freed_memory` returns it. Figures:
docs/benchmarks/ops.md.
"""

from __future__ import annotations

import ctypes
import functools
import os
from collections.abc import Callable


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

    `malloc_trim(0)` walks every malloc arena (each thread pool has its own) and gives back the
    whole free pages; it changes no data and takes well under a millisecond here.
    """
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
