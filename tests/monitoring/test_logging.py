from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from orchestrator.monitoring import bind_log_context, configure_logging, get_logger


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    configure_logging("INFO", json=True, stream=stream)
    yield stream
    for handler in list(root.handlers):
        if handler.get_name() == "fingpt":
            root.removeHandler(handler)
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_json_lines_carry_the_cycle_and_ticker_bound_around_them(
    log_stream: io.StringIO,
) -> None:
    stdlib = logging.getLogger("orchestrator.cycle")
    structured = get_logger("orchestrator.analysis")

    async def analyse(ticker: str) -> None:
        with bind_log_context(ticker=ticker):
            stdlib.warning("no news for %s", ticker)

    with bind_log_context(cycle_id=42):
        structured.info("cycle started", candidates=2)
        await asyncio.gather(analyse("AAPL"), analyse("MSFT"))
    stdlib.info("after the cycle")

    records = lines(log_stream)
    assert records[0]["event"] == "cycle started" and records[0]["cycle_id"] == 42
    assert records[0]["candidates"] == 2 and records[0]["level"] == "info"
    per_ticker = {r["ticker"]: r for r in records[1:3]}
    assert per_ticker["AAPL"]["event"] == "no news for AAPL"
    assert per_ticker["MSFT"]["cycle_id"] == 42 and per_ticker["MSFT"]["level"] == "warning"
    assert per_ticker["AAPL"]["logger"] == "orchestrator.cycle"
    assert "cycle_id" not in records[3] and "ticker" not in records[3]
    assert all(str(r["timestamp"]).endswith("Z") for r in records)


def test_exceptions_are_rendered_inside_the_json_line(log_stream: io.StringIO) -> None:
    try:
        raise RuntimeError("broker down")
    except RuntimeError:
        logging.getLogger("orchestrator.trading").exception("order failed")
    (record,) = lines(log_stream)
    assert record["event"] == "order failed"
    assert "RuntimeError: broker down" in str(record["exception"])
