"""The trading state row is created once even when the first requests arrive together."""

from __future__ import annotations

import threading

from sqlalchemy.engine import Engine

from orchestrator.store.db import session_scope
from orchestrator.store.trading import load_trading_state


def test_concurrent_first_reads_all_succeed_and_share_one_row(engine: Engine) -> None:
    start = threading.Barrier(6)
    errors: list[Exception] = []
    namespaces: list[str] = []

    def first_read() -> None:
        start.wait()
        try:
            with session_scope(engine) as session:
                namespaces.append(load_trading_state(session).namespace)
        except Exception as exc:  # the bug this guards against: UNIQUE constraint failed
            errors.append(exc)

    threads = [threading.Thread(target=first_read) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    with session_scope(engine) as session:
        assert set(namespaces) == {load_trading_state(session).namespace}
