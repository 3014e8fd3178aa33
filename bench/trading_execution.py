"""Trading overhead: what the risk -> confirm -> execute step costs per proposal, apart from the
model. Prices are in-memory frames; the ledger is a fresh SQLite file (or the PostgreSQL given
with --database-url, in a scratch schema).

    .venv/bin/python bench/trading_execution.py [--proposals 10] [--rounds 5] \
        [--database-url postgresql://postgres@127.0.0.1:5432/test]

Measures, as medians over rounds (one JSON line):
- `decision_ms_per_proposal`: process_decision with APPROVAL_POLICY=auto and SimBroker
  (validate, price, risk, store proposal + verdict, send the order);
- `rerun_ms_per_proposal`: the same decision run again (nothing may be sent twice);
- `approve_ms`: service.approve on a pending approval (re-price, risk again, send);
- `alpaca_submit_ms`: process_decision with one proposal through alpaca-py against the fake
  Alpaca server on 127.0.0.1 (HTTP round trips included).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestrator.clock import FixedClock  # noqa: E402
from orchestrator.execution import process_decision  # noqa: E402
from orchestrator.service import trading as service  # noqa: E402
from orchestrator.store.db import create_db_engine, upgrade_database  # noqa: E402
from tests.fakes.alpaca_server import API_KEY, SECRET_KEY, FakeAlpaca  # noqa: E402
from tests.trading.helpers import buy, cycle, decision, make_runtime, ny  # noqa: E402
from tests.trading.market import FrameMarketData, bars  # noqa: E402


def frames(n: int) -> FrameMarketData:
    days = {f"2015-03-0{d}": (100.0, 101.0, 99.0, 100.0) for d in (2, 3, 4, 5)}
    days["2015-02-27"] = (100.0, 101.0, 99.0, 100.0)
    return FrameMarketData({f"S{i:03d}": bars(days) for i in range(n)})


async def bench(engine, n: int, rounds: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    import tests.trading.helpers as helpers

    # One symbol per round for the approval, so earlier rounds' open orders do not block it.
    helpers.DATA = frames(n + rounds)  # make_runtime reads the module's DATA
    symbols = [f"S{i:03d}" for i in range(n)]
    extra = [f"S{i:03d}" for i in range(n, n + rounds)]
    settings = {
        "universe": ",".join(symbols + extra),
        "max_open_positions": 1_000,
        "max_position_pct": 1.0,
    }
    decide_ms, rerun_ms, approve_ms = [], [], []
    for r in range(rounds):
        clock = FixedClock(ny(2, 10).replace(minute=r))
        runtime = await make_runtime(engine, clock, **settings)
        record = cycle(engine, clock.now(), candidates=tuple(symbols))
        output = decision(*(buy(s, quantity=1) for s in symbols))
        started = time.perf_counter()
        await process_decision(runtime, output, record, holdings={}, as_of=clock.now())
        decide_ms.append((time.perf_counter() - started) * 1000 / n)
        started = time.perf_counter()
        await process_decision(runtime, output, record, holdings={}, as_of=clock.now())
        rerun_ms.append((time.perf_counter() - started) * 1000 / n)

        confirm = await make_runtime(engine, clock, approval_policy="confirm_all", **settings)
        (pending,) = await process_decision(
            confirm,
            decision(buy(extra[r], quantity=1)),
            cycle(engine, clock.now(), candidates=(extra[r],)),
            holdings={},
            as_of=clock.now(),
        )
        started = time.perf_counter()
        await service.approve(confirm, pending.approval_id or "", user="bench")
        approve_ms.append((time.perf_counter() - started) * 1000)
    return {
        "decision_ms_per_proposal": round(statistics.median(decide_ms), 2),
        "rerun_ms_per_proposal": round(statistics.median(rerun_ms), 2),
        "approve_ms": round(statistics.median(approve_ms), 2),
    }


async def bench_alpaca(engine, rounds: int) -> float:  # type: ignore[no-untyped-def]
    fake = FakeAlpaca(cash=10_000_000).start()
    try:
        times = []
        for r in range(rounds):
            clock = FixedClock(ny(3, 10).replace(minute=r))
            runtime = await make_runtime(
                engine,
                clock,
                broker="alpaca",
                alpaca_api_key=API_KEY,
                alpaca_secret_key=SECRET_KEY,
                alpaca_base_url=fake.url,
                alpaca_poll_seconds=0,
                universe="S000",
            )
            record = cycle(engine, clock.now(), candidates=("S000",))
            started = time.perf_counter()
            await process_decision(
                runtime, decision(buy("S000", quantity=1)), record, holdings={}, as_of=clock.now()
            )
            times.append((time.perf_counter() - started) * 1000)
            await runtime.close()
        return round(statistics.median(times), 2)
    finally:
        fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proposals", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.database_url:
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            admin = create_db_engine(args.database_url)
            with admin.begin() as connection:
                connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
            engine = create_db_engine(args.database_url, schema=schema)
        else:
            engine = create_db_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        try:
            upgrade_database(engine)
            result = asyncio.run(bench(engine, args.proposals, args.rounds))
            result["alpaca_submit_ms"] = asyncio.run(bench_alpaca(engine, args.rounds))
        finally:
            engine.dispose()
            if args.database_url:
                with admin.begin() as connection:
                    connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    result.update(
        proposals=args.proposals,
        rounds=args.rounds,
        database="postgresql" if args.database_url else "sqlite",
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
