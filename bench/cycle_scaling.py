"""Cycle targets of issue 7, measured on StockNet data (88 tickers with tweets, 2014-2015).

1. Wall time of a cycle with 50 candidates vs 1 candidate when every LLM call takes 300 ms
   (fake OpenAI server on 127.0.0.1, real openai SDK); target ratio <= 1.3.
2. LLM calls and tokens per ticker decision, from the call log; targets <= 3 and <= 6k.
3. Our own overhead per ticker with the offline engine and warm caches; target <= 20 ms.

Usage: .venv/bin/python bench/cycle_scaling.py [--stocknet ../shared/data/stocknet] [--repeats 5]
                                               [--workers N [--redis-url URL]]
Models are trained once before timing (the forecaster retrains monthly, not per cycle).

With `--workers N` the pairs are measured again with the analysis on N `fingpt worker`
processes (ANALYSIS_WORKERS=true, the Redis work queue; issue 7 item 3), the way a service
spreads per-ticker work over cores: in one process every ticker's CPU shares one interpreter.
The Redis database of `--redis-url` (default db 7) has its `fingpt:` keys deleted first.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from build_sample import build_news, build_prices  # noqa: E402

from orchestrator.clock import FixedClock  # noqa: E402
from orchestrator.config import Settings, load_settings  # noqa: E402
from orchestrator.cycle import run_cycle  # noqa: E402
from orchestrator.cycle_record import CycleRecord  # noqa: E402
from orchestrator.runtime import Runtime, build_runtime  # noqa: E402
from orchestrator.service.system import freeze_heap  # noqa: E402
from orchestrator.store.db import get_engine  # noqa: E402
from tests.fakes.cycle_answers import MODELS  # noqa: E402

SHARED_MODEL = ROOT.parent / "shared/models/all-MiniLM-L6-v2-onnx"
AS_OF = datetime(2015, 6, 16, 19, 30, tzinfo=UTC)  # a Tuesday afternoon in New York
LATENCY = 0.3
SERVE_FAKE = """
import sys, time
from tests.fakes.cycle_answers import cycle_answer
from tests.fakes.openai_server import FakeOpenAI
fake = FakeOpenAI()
fake.latency = float(sys.argv[1])
fake.respond_with(cycle_answer)
fake.omit_usage = True  # the client then counts the real prompt and answer with tiktoken
print(fake.base_url, flush=True)
while True:
    time.sleep(3600)
"""


def settings_for(folder: Path, var: Path, tickers: list[str], n: int, **extra: Any) -> Settings:
    return load_settings(
        data_provider="csv",
        data_dir=folder,
        universe=",".join(tickers),
        max_candidates=n,
        max_concurrency=64,
        min_avg_dollar_volume=0,
        min_price=0,
        approval_policy="auto",
        metrics_port=0,
        var_dir=var,
        # One database for every run: the market-data cache is warm after the warm-up, as it
        # is in a running service (a cold cache measures SQLite inserts, not the cycle).
        database_url=f"sqlite:///{var / 'bench.db'}",
        **extra,
    )


async def one_cycle(settings: Settings) -> tuple[CycleRecord, float, Runtime]:
    runtime = await build_runtime(settings, clock=FixedClock(AS_OF), with_knowledge=False)
    freeze_heap()  # as `fingpt run` does once started and after each cycle
    started = time.perf_counter()
    record = await run_cycle(runtime, AS_OF, slot=f"bench:{time.monotonic_ns()}", mode="paper")
    return record, time.perf_counter() - started, runtime


async def measure_pairs(label: str, settings_of: Any, repeats: int) -> None:
    """`repeats` pairs of a 1- and a 50-candidate cycle; prints each run and the median ratio.
    `settings_of(n, repeat)` gives the settings of one run."""
    ratios = []
    for repeat in range(repeats):
        seconds_by_n = {}
        for n in (1, 50):
            record, seconds, runtime = await one_cycle(settings_of(n, repeat))
            await runtime.close()
            analysed = sum(1 for c in record.candidates if c.signals)
            notes = [note for c in record.candidates for note in c.notes]
            where = {note for note in notes if note.startswith("analysed by")}
            seconds_by_n[n] = seconds
            print(
                f"[{label}] LLM at {LATENCY * 1000:.0f} ms: {n} candidate(s) -> {seconds:.2f} s, "
                f"{record.llm_calls} calls ({record.llm_calls / max(1, analysed):.2f} per ticker), "
                f"{record.tokens / max(1, analysed):,.0f} tokens per ticker, "
                f"status {record.status}; steps {record.timings}"
                + (f"; {len(where)} worker(s)" if where else "")
            )
        ratios.append(seconds_by_n[50] / seconds_by_n[1])
        print(f"[{label}] ratio 50/1 = {ratios[-1]:.2f}")
    print(
        f"[{label}] ratio 50/1 over {repeats} pairs: median {statistics.median(ratios):.2f} "
        f"(min {min(ratios):.2f}, max {max(ratios):.2f}; target <= 1.3)"
    )


async def measure_with_workers(
    args: argparse.Namespace,
    folder: Path,
    var: Path,
    tickers: list[str],
    llm: Any,
    repeats: int,
) -> None:
    """The same pairs with the per-ticker analysis on `args.workers` `fingpt worker` processes.
    Workers keep their settings, so every run starts with the sentiment cache emptied instead
    of a new sentiment model name (the same fresh calls)."""
    import redis

    client = redis.Redis.from_url(args.redis_url)
    stale = list(client.scan_iter(match="fingpt:*"))
    if stale:
        client.delete(*stale)
    model = f"{MODELS['sentiment']}-workers"
    common = {**llm(model), "redis_url": args.redis_url, "analysis_workers": True}
    probe = settings_for(folder, var, tickers, 50, **common)
    env = {
        **os.environ,
        "DATA_PROVIDER": "csv",
        "DATA_DIR": str(folder),
        "VAR_DIR": str(var),
        "DATABASE_URL": probe.database_url,
        "UNIVERSE": ",".join(tickers),
        "MAX_CONCURRENCY": str(probe.max_concurrency),
        "METRICS_PORT": "0",
        "REDIS_URL": args.redis_url,
        "OPENAI_BASE_URL": str(common["openai_base_url"]),
        "OPENAI_API_KEY": "bench",
        "LLM_MODEL_SENTIMENT": model,
        "LLM_MODEL_FORECAST": MODELS["forecast"],
        "LLM_MODEL_DECISION": MODELS["decision"],
        "LLM_CACHE": "off",
    }
    if SHARED_MODEL.is_dir():  # a worker opens the knowledge base, as in a service
        env["EMBED_MODEL_PATH"] = str(SHARED_MODEL)
    fingpt = str(Path(sys.executable).with_name("fingpt"))
    workers = [
        subprocess.Popen([fingpt, "worker"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL)  # noqa: ASYNC220
        for _ in range(args.workers)
    ]
    try:
        deadline = time.monotonic() + 120
        while len(list(client.scan_iter(match="fingpt:workers:*"))) < args.workers:
            if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
                raise SystemExit("the workers did not start (see their output)")
            await asyncio.sleep(0.5)
        engine = get_engine(probe)

        def fresh(n: int, repeat: int) -> Settings:
            with engine.begin() as connection:
                connection.exec_driver_sql("DELETE FROM sentiment_item")
            return settings_for(folder, var, tickers, n, **common)

        for n in (50, 1):  # warm-up: each worker builds its runtime on its first job
            await (await one_cycle(fresh(n, -1)))[2].close()
        await measure_pairs(f"{args.workers} workers", fresh, repeats)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=60)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stocknet", type=Path, default=ROOT.parent / "shared/data/stocknet")
    parser.add_argument("--repeats", type=int, default=5, help="pairs of 1- and 50-ticker runs")
    parser.add_argument("--workers", type=int, default=0, help="also measure with N workers")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/7")
    args = parser.parse_args()
    source, repeats = args.stocknet, args.repeats
    work = Path(tempfile.mkdtemp(prefix="fingpt-bench-"))
    folder, var = work / "data", work / "var"
    folder.mkdir()
    var.mkdir()
    tickers = sorted(p.stem for p in (source / "prices").glob("*.csv"))[:60]
    build_prices(source, tickers, output=folder)
    build_news(source, tickers, output=folder)

    # The fake endpoint runs in its own process, as a real one would: in this process its
    # request threads would compete with the cycle for the interpreter lock.
    server = subprocess.Popen(  # noqa: ASYNC220 - once, before anything is timed
        [sys.executable, "-c", SERVE_FAKE, str(LATENCY)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    base_url = server.stdout.readline().strip()

    def llm(sentiment_model: str) -> dict[str, Any]:
        # A sentiment model name per run: each run classifies its news afresh (the cache is
        # per model), so every run pays the full calls of a first sight.
        return {
            "openai_base_url": base_url,
            "openai_api_key": "bench",
            "llm_model_sentiment": sentiment_model,
            "llm_model_forecast": MODELS["forecast"],
            "llm_model_decision": MODELS["decision"],
            "llm_cache": "off",
        }

    # Warm-up: trains and saves the forecaster, fills the market-data cache.
    for n in (50, 1):
        warm = settings_for(folder, var, tickers, n, **llm(f"{MODELS['sentiment']}-warm-{n}"))
        await (await one_cycle(warm))[2].close()

    # 1 and 50 alternate, each run with fresh sentiment, so both sides of every ratio see the
    # same minute of a shared machine; the median of the paired ratios is the figure.
    def in_process(n: int, repeat: int) -> Settings:
        sentiment_model = f"{MODELS['sentiment']}-{n}-{repeat}"
        return settings_for(folder, var, tickers, n, **llm(sentiment_model))

    await measure_pairs("in one process", in_process, repeats)
    if args.workers:
        await measure_with_workers(args, folder, var, tickers, llm, repeats)
    server.terminate()
    server.wait(timeout=10)

    offline = settings_for(folder, var, tickers, 50)
    runtime = await build_runtime(offline, clock=FixedClock(AS_OF), with_knowledge=False)
    await run_cycle(runtime, AS_OF, slot="bench:warm", mode="paper")
    started = time.perf_counter()
    record = await run_cycle(runtime, AS_OF, slot="bench:timed", mode="paper")
    seconds = time.perf_counter() - started
    await runtime.close()
    print(
        f"offline engine, warm caches: {len(record.candidates)} candidates in {seconds:.2f} s = "
        f"{1000 * seconds / len(record.candidates):.1f} ms per ticker (target <= 20); "
        f"steps {record.timings}"
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
