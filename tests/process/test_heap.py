"""After a cycle the service hands freed memory back to the OS (issue 7: idle < 500 MB)."""

from __future__ import annotations

import os

import pytest

from orchestrator import memory
from orchestrator.service import system


def test_freezing_the_heap_also_returns_freed_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(memory, "_malloc_trim", lambda: calls.append)
    try:
        system.freeze_heap()
    finally:
        import gc

        gc.unfreeze()  # leave the test session's collector as it was
    assert calls == [0]


def test_elsewhere_than_glibc_nothing_is_called(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_malloc_trim", lambda: None)
    assert memory.release_freed_memory() is False


def test_on_glibc_malloc_trim_is_found() -> None:
    try:
        os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, ValueError, OSError):
        pytest.skip("not a glibc system")
    assert memory._malloc_trim() is not None
    assert memory.release_freed_memory() is True
