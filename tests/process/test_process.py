"""`fingpt run`: the service process in this loop, and as a real process stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import Session, select

from orchestrator.events import Event
from orchestrator.service.facade import Orchestrator
from orchestrator.service.process import STOPPED_REASON, ServiceProcess
from orchestrator.store.cycles import CycleRow
from orchestrator.store.trading import OrderRow
from tests.cycle.conftest import UNIVERSE, sample_settings
from tests.events.helpers import eventually
from tests.fakes.openai_server import fake_openai_factory  # noqa: F401 (fixture)

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cycles(service: Orchestrator) -> list[CycleRow]:
    with Session(service.runtime.engine) as session:
        return list(session.exec(select(CycleRow)))


async def test_a_cycle_at_start_runs_and_metrics_follow_its_events() -> None:
    port = free_port()
    service = await Orchestrator.create(sample_settings(metrics_port=port))
    process = ServiceProcess(service, cycle_at_start=True, grace_seconds=60)
    completed: list[Event] = []

    async def on_completed(event: Event) -> None:
        completed.append(event)

    service.bus.subscribe("cycle.completed", on_completed)
    stop = asyncio.Event()
    running = asyncio.create_task(process.run(stop))
    try:
        await eventually(lambda: bool(completed), within_seconds=60)
        await asyncio.sleep(0.2)  # the metrics subscriber got the same event
        async with httpx.AsyncClient() as client:
            metrics = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
        # Scheduled jobs are registered with their fixed ids.
        assert process.scheduler is not None
        assert process.scheduler.job_ids() == sorted(
            ["fingpt.cycle", "fingpt.daily_summary", "fingpt.post_close", "fingpt.warmup"]
        )
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=60)
    assert [c.status for c in cycles(service)] == ["completed"]
    assert sample(metrics, 'fingpt_cycles_total{status="completed"}') >= 1
    assert sample(metrics, "fingpt_cycle_duration_seconds_count") >= 1


def sample(text: str, name: str) -> float:
    """A sample's value in Prometheus text format (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_stopping_mid_cycle_ends_it_at_the_next_step_boundary() -> None:
    service = await Orchestrator.create(sample_settings())
    process = ServiceProcess(service, cycle_at_start=True, grace_seconds=60)
    seen: list[str] = []
    stop = asyncio.Event()

    async def on_step(event: Event) -> None:
        seen.append(event.type)
        if event.type == "candidates.selected":
            stop.set()  # "SIGTERM" while the cycle gathers and analyses

    service.bus.subscribe("*", on_step)
    await asyncio.wait_for(process.run(stop), timeout=120)

    [row] = cycles(service)
    assert row.status != "running" and row.error == STOPPED_REASON
    assert row.finished_at is not None
    # The step that was running finished and announced itself; nothing after it started.
    assert "analysis.completed" in seen
    assert "decision.proposed" not in seen and "cycle.completed" not in seen
    assert not _orders(service)


def _orders(service: Orchestrator) -> list[OrderRow]:
    with Session(service.runtime.engine) as session:
        return list(session.exec(select(OrderRow)))


async def test_the_daily_summary_goes_out_on_the_bus() -> None:
    from orchestrator.service.jobs import daily_summary

    service = await Orchestrator.create(sample_settings())
    try:
        got: list[Event] = []

        async def on_summary(event: Event) -> None:
            got.append(event)

        service.bus.subscribe("daily.summary", on_summary)
        await service.run_cycle_now()
        day = service.now().date()
        summary = await daily_summary(service, day)
        await eventually(lambda: bool(got))
    finally:
        await service.close()
    assert summary.session == day and summary.cycles == 1
    assert got[0].payload["equity"] == summary.equity > 0


async def test_warm_up_and_post_close_run_on_the_sample() -> None:
    from orchestrator.service.jobs import evaluate_day, warm_up

    service = await Orchestrator.create(sample_settings(universe=UNIVERSE + ",NOSUCH"))
    try:
        day = service.now().date()
        # Every real symbol is cached; the unknown one is skipped, not fatal.
        assert await warm_up(service, day) == len(UNIVERSE.split(","))
        await service.run_cycle_now()
        result = await evaluate_day(service, day)
    finally:
        await service.close()
    assert {"outcomes", "lessons"} <= set(result)


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
        "MAX_CANDIDATES": "4",
        "APPROVAL_POLICY": "auto",
        "DATABASE_URL": f"sqlite:///{database}",
        "VAR_DIR": str(tmp_path / "var"),
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
        await eventually(lambda: bool(fake.chat_requests()), within_seconds=90)
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
        orders = db.execute('SELECT count(*) FROM "order"').fetchone()[0]
    assert len(rows) == 1, rows
    status, error, finished_at = rows[0]
    assert status != "running" and error == STOPPED_REASON and finished_at is not None
    assert orders == 0  # orders only happen in the last step, after the last boundary


async def test_with_a_token_the_bot_polls_and_pushes_the_cycle_alert() -> None:
    from tests.fakes.telegram_server import FakeTelegramServer

    chat = 4242
    with FakeTelegramServer() as telegram:
        settings = sample_settings(
            telegram_bot_token="123456:TEST-token",
            telegram_base_url=telegram.base_url,
            telegram_allowed_chat_ids=str(chat),
        )
        service = await Orchestrator.create(settings)
        process = ServiceProcess(service, cycle_at_start=True, grace_seconds=60)
        assert process.with_bot
        stop = asyncio.Event()
        running = asyncio.create_task(process.run(stop))
        try:
            await telegram.wait_for("getUpdates", timeout=60)
            # The cycle run at start is announced in the allowed chat by the alert pusher...
            await telegram.wait_for("sendMessage", timeout=60, chat_id=chat)
            # ...and a person's command is answered by the same process.
            sent_before = len(telegram.texts_to(chat))
            telegram.send_text(chat, "/status")
            await telegram.wait_for("sendMessage", count=sent_before + 1, timeout=30, chat_id=chat)
        finally:
            stop.set()
            await asyncio.wait_for(running, timeout=60)
    texts = telegram.texts_to(chat)
    assert any("cycle" in text.lower() for text in texts[:-1]), texts
    assert [c.status for c in cycles(service)] == ["completed"]
