"""`fingpt worker`: a process that runs per-ticker jobs from the Redis work queue."""

from __future__ import annotations

import asyncio
import signal

import typer

from orchestrator.cli.app import app, console, run_async
from orchestrator.config import get_settings
from orchestrator.errors import ConfigError
from orchestrator.monitoring import (
    configure_logging,
    install_store_metrics,
    start_metrics_server,
)
from orchestrator.workqueue import (
    import_handler_modules,
    registered_job_types,
    run_worker_cleanups,
)

# Where the cycle's own job handlers live (per-ticker analysis); used unless others are named.
DEFAULT_HANDLER_MODULES = ("orchestrator.briefing",)


@app.command()
def worker(
    concurrency: int = typer.Option(
        0, "--concurrency", "-c", min=0, help="Jobs run at once (default MAX_CONCURRENCY)"
    ),
    handlers: str = typer.Option(
        "",
        "--handlers",
        help="Comma list of modules that register job handlers (default: the cycle's analysis)",
    ),
    queue_prefix: str = typer.Option(
        "fingpt:", "--queue-prefix", hidden=True, help="Redis key prefix (tests, shared Redis)"
    ),
) -> None:
    """Run jobs from the Redis work queue until SIGTERM/SIGINT (the running jobs finish first)."""
    settings = get_settings()
    if not settings.redis_url:
        raise ConfigError("`fingpt worker` needs REDIS_URL (the work queue lives in Redis).")
    configure_logging(settings.log_level, json=settings.log_json)
    modules = [*settings.worker_handlers, *(m.strip() for m in handlers.split(",") if m.strip())]
    modules = modules or list(DEFAULT_HANDLER_MODULES)
    import_handler_modules(modules)
    job_types = registered_job_types()
    if not job_types:
        raise ConfigError(
            "No job handlers are registered; name their modules with --handlers or WORKER_HANDLERS."
        )
    run_async(
        _serve(settings.redis_url, concurrency or settings.max_concurrency, job_types, queue_prefix)
    )


async def _serve(redis_url: str, concurrency: int, job_types: list[str], prefix: str) -> None:
    from redis.asyncio import Redis

    from orchestrator.redis_workqueue import Worker

    settings = get_settings()
    metrics = start_metrics_server(settings.metrics_port)
    install_store_metrics()  # LLM calls made by this worker's jobs
    client = Redis.from_url(redis_url, decode_responses=True)
    runner = Worker(client, concurrency=concurrency, prefix=prefix)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, runner.stop)
    console.print(
        f"worker {runner.name}: {concurrency} at once; job types: {', '.join(job_types)}",
        highlight=False,
    )
    try:
        await runner.run()
    finally:
        await run_worker_cleanups()
        await client.aclose()
        if metrics is not None:
            metrics.close()
    console.print(f"worker {runner.name} stopped after {runner.jobs_done} job(s)", highlight=False)
