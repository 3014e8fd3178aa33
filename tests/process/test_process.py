"""`fingpt run`: the service process in this loop, and as a real process stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import Session, select

from orchestrator.events import Event
from orchestrator.scheduler import JOB_IDS
from orchestrator.service.facade import Orchestrator
from orchestrator.service.jobs import daily_summary, evaluate_day, run_scheduled_cycle, warm_up
from orchestrator.service.process import RESTART_REASON, STOPPED_REASON, ServiceProcess
from orchestrator.store.cycles import CycleRow, claim_slot
from orchestrator.store.db import session_scope
from orchestrator.store.trading import OrderRow
from tests.events.helpers import eventually
from tests.fakes.openai_server import close_openai_clients, fake_openai_factory  # noqa: F401 (fixture)
from tests.fakes.telegram_server import FakeTelegramServer
from tests.process.conftest import UNIVERSE, process_settings, var_dir

REPO_ROOT = Path(__file__).resolve().parents[2]
CHAT = 4242


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cycles(service: Orchestrator) -> list[CycleRow]:
    with Session(service.runtime.engine) as session:
        return list(session.exec(select(CycleRow).order_by(CycleRow.id)))


def orders(service: Orchestrator) -> list[OrderRow]:
    with Session(service.runtime.engine) as session:
        return list(session.exec(select(OrderRow)))


def sample(text: str, name: str) -> float:
    """A sample's value in Prometheus text format (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_one_process_runs_the_cycle_metrics_and_the_bot() -> None:
    port = free_port()
    with FakeTelegramServer() as telegram:
        settings = process_settings(
            metrics_port=port,
            telegram_bot_token="123456:TEST-token",
            telegram_base_url=telegram.base_url,
            telegram_allowed_chat_ids=str(CHAT),
        )
        service = await Orchestrator.create(settings)
        process = ServiceProcess(service, cycle_at_start=True, grace_seconds=60)
        assert process.with_bot
        stop = asyncio.Event()
        running = asyncio.create_task(process.run(stop))
        try:
            await telegram.wait_for("getUpdates", timeout=60)
            # The cycle run at start is announced in the allowed chat by the alert pusher...
            await telegram.wait_for(
                "sendMessage",
                lambda call: "proposals" in str(call.params.get("text")),
                timeout=60,
                chat_id=CHAT,
            )
            # ...a person's command is answered by the same process...
            sent_before = len(telegram.texts_to(CHAT))
            telegram.send_text(CHAT, "/status")
            await telegram.wait_for("sendMessage", count=sent_before + 1, timeout=30, chat_id=CHAT)
            # ...and /metrics shows the cycle, counted from its events.
            async with httpx.AsyncClient() as client:
                metrics = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
            assert process.scheduler is not None
            assert process.scheduler.job_ids() == sorted(JOB_IDS)
        finally:
            stop.set()
            await asyncio.wait_for(running, timeout=60)
    assert [c.status for c in cycles(service)] == ["completed"]
    assert sample(metrics, 'fingpt_cycles_total{status="completed"}') >= 1
    assert sample(metrics, "fingpt_cycle_duration_seconds_count") >= 1
    # The portfolio gauges come from the broker (SimBroker's opening cash at least).
    assert sample(metrics, "fingpt_equity") > 50_000


async def test_stopping_mid_cycle_ends_it_at_the_next_step_boundary() -> None:
    service = await Orchestrator.create(process_settings())
    # A cycle a previous process left "running" when it died (kill -9, power loss).
    with session_scope(service.runtime.engine) as session:
        orphan = claim_slot(session, slot="2015-12-16T20:30Z", mode="demo", as_of=service.now())
    process = ServiceProcess(service, cycle_at_start=True, grace_seconds=60)
    seen: list[str] = []
    stop = asyncio.Event()

    async def on_step(event: Event) -> None:
        seen.append(event.type)
        if event.type == "candidates.selected":
            stop.set()  # "SIGTERM" while the cycle gathers and analyses

    service.bus.subscribe("*", on_step)
    await asyncio.wait_for(process.run(stop), timeout=120)

    found, row = cycles(service)
    # The orphan was closed at start, before any new work.
    assert found.id == orphan and found.status != "running" and found.error == RESTART_REASON
    assert row.status != "running" and row.error == STOPPED_REASON
    assert row.finished_at is not None
    # The step that was running finished and announced itself; nothing after it started.
    assert "analysis.completed" in seen
    assert "decision.proposed" not in seen and "cycle.completed" not in seen
    assert not orders(service)


async def test_daily_jobs_on_the_sample() -> None:
    service = await Orchestrator.create(process_settings(universe=UNIVERSE + ",NOSUCH"))
    got: list[Event] = []

    async def on_summary(event: Event) -> None:
        got.append(event)

    service.bus.subscribe("daily.summary", on_summary)
    try:
        day = service.now().date()
        # Pre-open: every real symbol is cached; the unknown one is skipped, not fatal.
        assert await warm_up(service, day) == len(UNIVERSE.split(","))
        # The scheduled cycle of a slot runs once; the same slot fired again is refused.
        slot = service.now().replace(second=0, microsecond=0)
        assert (await run_scheduled_cycle(service, slot)).endswith("completed")
        assert await run_scheduled_cycle(service, slot) == "skipped: slot already ran"
        # Post-close: outcomes and lessons (none are due yet on a fresh ledger, but it runs).
        result = await evaluate_day(service, day)
        # After the close: the summary goes out on the bus for the bot and the metrics.
        summary = await daily_summary(service, day)
        await eventually(lambda: bool(got))
    finally:
        await service.close()
    assert {"outcomes", "lessons"} <= set(result)
    assert summary.session == day and summary.cycles == 1
    assert got[0].payload["equity"] == summary.equity > 0


def _run_process(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from orchestrator.cli import main; main()",
            "run",
            "--cycle-now",
            "--no-bot",
            "--grace-seconds",
            "60",
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


async def test_sigterm_mid_cycle_leaves_a_consistent_database(
    fake_openai_factory: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    fake = fake_openai_factory()
    fake.latency = 1.0  # every LLM call takes a second: the cycle is surely mid-step
    database = tmp_path / "fingpt.db"
    env = {
        **os.environ,
        "DATA_PROVIDER": "offline",
        "UNIVERSE": UNIVERSE,
        "MAX_CANDIDATES": "2",
        "APPROVAL_POLICY": "auto",
        "DATABASE_URL": f"sqlite:///{database}",
        "VAR_DIR": str(var_dir()),
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": "test-key",
        "METRICS_PORT": "0",
        "PYTHONPATH": str(REPO_ROOT),
    }
    for name in ("REDIS_URL", "TELEGRAM_BOT_TOKEN"):
        env.pop(name, None)
    process = _run_process(env)
    try:
        # The first LLM request means the cycle is inside a step; stop the service right then.
        await eventually(lambda: bool(fake.chat_requests()), within_seconds=120)
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.to_thread(process.communicate, timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = output.decode(errors="replace")
    assert process.returncode == 0, text
    assert "SIGTERM received" in text and "fingpt run: stopped" in text

    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT status, error, finished_at FROM cycle").fetchall()
        placed = db.execute('SELECT count(*) FROM "order"').fetchone()[0]
    assert len(rows) == 1, rows
    status, error, finished_at = rows[0]
    assert status != "running" and error == STOPPED_REASON and finished_at is not None
    assert placed == 0  # orders only happen in the last step, after the last boundary


async def test_on_redis_the_process_consumes_its_own_events(redis_url: str) -> None:
    from prometheus_client import REGISTRY
    from redis.asyncio import Redis

    from orchestrator.redis_bus import RedisStreamBus
    from orchestrator.runtime import build_runtime
    from orchestrator.service.facade import demo_clock

    stream = f"test:process:{uuid.uuid4().hex[:10]}"
    settings = process_settings(redis_url=redis_url)
    bus = RedisStreamBus.from_url(redis_url, stream=stream, block_ms=100)
    runtime = await build_runtime(settings, clock=demo_clock(), bus=bus)
    service = await Orchestrator.create(settings, runtime=runtime)
    process = ServiceProcess(service, cycle_at_start=True, grace_seconds=60)

    def completed() -> float:
        labels = {"type": "cycle.completed"}
        return REGISTRY.get_sample_value("fingpt_events_total", labels) or 0.0

    before = completed()
    stop = asyncio.Event()
    running = asyncio.create_task(process.run(stop))
    try:
        # The metrics subscriber is a consumer group on the stream: the cycle's events reach it
        # through Redis, not through a shortcut in this process.
        await eventually(lambda: completed() > before, within_seconds=90)
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=60)
    client = Redis.from_url(redis_url, decode_responses=True)
    try:
        groups = await client.xinfo_groups(stream)
        await client.delete(stream)
    finally:
        await client.aclose()
    assert "orchestrator.monitoring.record_event" in {g["name"] for g in groups}
    assert all(g["pending"] == 0 for g in groups)  # every event handled and acknowledged
    assert [c.status for c in cycles(service)] == ["completed"]
