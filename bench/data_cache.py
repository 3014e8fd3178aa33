"""The market-data read-through cache: cold fetch vs a repeat from the database vs from memory.

    .venv/bin/python bench/data_cache.py [--latency-ms 300] [--database-url URL]

A "remote" provider is simulated by the bundled sample behind a fixed per-request delay (Yahoo and
Alpaca answer a batch in a few hundred ms). Measured, for the 15 sample tickers x 2 years:
- cold: the first `get_bars` (provider + writing the bars and their range to the database);
- warm: the same request from a NEW `CachedMarketData` (a later process): database only;
- hot: the same request again on that instance: memory slices only;
- provider requests made by warm and hot reads (must be 0: the issue's cache criterion);
- news: cold vs warm for one ticker's window.
Default database: a fresh SQLite file; pass `--database-url postgresql://...` for PostgreSQL.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestrator.clock import FixedClock  # noqa: E402
from orchestrator.config import DEFAULT_UNIVERSE  # noqa: E402
from orchestrator.data.cache import CachedMarketData  # noqa: E402
from orchestrator.data.offline import OfflineMarketData  # noqa: E402
from orchestrator.store.db import create_db_engine, upgrade_database  # noqa: E402

NOW = datetime(2016, 1, 4, 12, 0, tzinfo=UTC)


class SlowRemote:
    """The sample behind a fixed delay per request, counting requests."""

    name = "slow-remote"

    def __init__(self, latency_s: float) -> None:
        self.inner = OfflineMarketData()
        self.latency_s = latency_s
        self.requests = 0

    def _wait(self) -> None:
        self.requests += 1
        time.sleep(self.latency_s)

    def get_bars(self, symbols: Sequence[str], start: date, end: date, **kw: Any) -> Any:
        self._wait()
        return self.inner.get_bars(symbols, start, end, **kw)

    def get_news(self, symbols: Sequence[str], **kw: Any) -> Any:
        self._wait()
        return self.inner.get_news(symbols, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _timed(call: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call()
    return (time.perf_counter() - started) * 1000, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency-ms", type=float, default=300.0)
    parser.add_argument("--database-url", default="")
    options = parser.parse_args()

    schema = None
    url = options.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    if url.startswith("postgresql"):
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        with create_db_engine(url).begin() as connection:
            connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    engine = create_db_engine(url, schema=schema)
    upgrade_database(engine)
    remote = SlowRemote(options.latency_ms / 1000)
    symbols = DEFAULT_UNIVERSE.split(",")
    args = (symbols, date(2014, 1, 1), date(2015, 12, 31))
    clock = FixedClock(NOW)

    cold_ms, bars = _timed(
        lambda: CachedMarketData(remote, engine, clock=clock).get_bars(*args, as_of=NOW)
    )  # type: ignore[arg-type]  # noqa: E501
    rows = sum(len(frame) for frame in bars.values())
    after_cold = remote.requests
    warm_cache = CachedMarketData(remote, engine, clock=clock)  # type: ignore[arg-type]
    warm_ms, _ = _timed(lambda: warm_cache.get_bars(*args, as_of=NOW))
    hot_runs = 200
    hot_ms, _ = _timed(lambda: [warm_cache.get_bars(*args, as_of=NOW) for _ in range(hot_runs)])
    bar_requests = remote.requests - after_cold

    as_of = datetime(2015, 6, 30, 20, 0, tzinfo=UTC)
    news_cold, items = _timed(
        lambda: CachedMarketData(remote, engine, clock=clock).get_news(["AAPL"], as_of=as_of)  # type: ignore[arg-type]  # noqa: E501
    )
    before = remote.requests
    news_warm, _ = _timed(
        lambda: CachedMarketData(remote, engine, clock=clock).get_news(["AAPL"], as_of=as_of)  # type: ignore[arg-type]  # noqa: E501
    )
    news_requests = remote.requests - before

    backend = engine.url.get_backend_name()
    print(f"database {backend}; remote latency {options.latency_ms:.0f} ms per request")
    print(f"bars, {len(symbols)} tickers x 2 years ({rows:,} rows):")
    print(f"  cold (provider + store)     {cold_ms:9.1f} ms  ({after_cold} provider request)")
    print(f"  warm (new instance, DB)     {warm_ms:9.1f} ms  ({cold_ms / warm_ms:.0f}x faster)")
    print(f"  hot  (same instance, memory){hot_ms / hot_runs:9.2f} ms per request")
    print(f"  provider requests by warm+hot reads: {bar_requests}")
    print(f"news, AAPL, 50 newest items ({len(items)} returned):")
    print(f"  cold {news_cold:.1f} ms, warm {news_warm:.1f} ms, provider requests warm: "
          f"{news_requests}")  # fmt: skip
    if schema:
        engine.dispose()
        with create_db_engine(url).begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    main()
