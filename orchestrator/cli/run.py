"""`fingpt run`: the long-running service (scheduler, metrics, event consumers, Telegram bot)."""

from __future__ import annotations

import asyncio
import logging
import signal

import typer

from orchestrator.cli.app import app, run_async
from orchestrator.config import get_settings
from orchestrator.monitoring import configure_logging

log = logging.getLogger(__name__)


@app.command("run")
def run(
    grace_seconds: float = typer.Option(
        120.0,
        "--grace-seconds",
        min=0,
        help="On SIGTERM, how long a running cycle may take to reach its next step boundary",
    ),
    cycle_now: bool = typer.Option(
        False, "--cycle-now", help="Also run one cycle at start (calendar rules still apply)"
    ),
    no_bot: bool = typer.Option(False, "--no-bot", help="Do not start the Telegram bot"),
) -> None:
    """Run autonomously until SIGTERM/SIGINT: scheduled cycles, daily jobs, /metrics, the bot."""
    settings = get_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    run_async(_serve(grace_seconds, cycle_now, with_bot=False if no_bot else None))


async def _serve(grace_seconds: float, cycle_now: bool, *, with_bot: bool | None) -> None:
    from orchestrator.service.facade import Orchestrator
    from orchestrator.service.process import ServiceProcess

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        if stop.is_set():
            log.warning(
                "%s again: still stopping cleanly, please wait", signal.Signals(signum).name
            )
        log.info("%s received", signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    service = await Orchestrator.create(get_settings())
    process = ServiceProcess(
        service, grace_seconds=grace_seconds, cycle_at_start=cycle_now, with_bot=with_bot
    )
    await process.run(stop)
