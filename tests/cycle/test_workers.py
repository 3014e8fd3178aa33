"""Scale-out: two `fingpt worker` processes analyse a cycle's candidates over the real Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from orchestrator.cycle import run_cycle
from orchestrator.redis_workqueue import RedisWorkQueue
from tests.cycle.conftest import UNIVERSE, sample_settings
from tests.events.helpers import eventually

REPO_ROOT = Path(__file__).resolve().parents[2]


def _worker(prefix: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from orchestrator.cli import main; main()",
            "worker",
            "--handlers",
            "orchestrator.briefing",
            "--queue-prefix",
            prefix,
            "--concurrency",
            "2",
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


async def test_two_workers_analyse_the_candidates_and_the_cycle_collects_them(
    make_runtime, redis_url: str, tmp_path: Path
) -> None:
    database = f"sqlite:///{tmp_path / 'shared.db'}"
    settings = sample_settings(
        database_url=database, redis_url=redis_url, analysis_workers=True, max_candidates=4
    )
    runtime = await make_runtime(settings)
    prefix = f"test:{uuid.uuid4().hex[:10]}:"
    queue = RedisWorkQueue.from_url(redis_url, prefix=prefix)
    runtime.work_queue = queue
    env = {
        **os.environ,
        "DATA_PROVIDER": "offline",
        "UNIVERSE": UNIVERSE,
        "DATABASE_URL": database,
        "REDIS_URL": redis_url,
        "METRICS_PORT": "0",
        "VAR_DIR": str(tmp_path / "var"),
    }
    logs = [tmp_path / "worker1.log", tmp_path / "worker2.log"]
    workers = [_worker(prefix, env, log) for log in logs]
    try:
        await eventually(lambda: _two_alive(queue), within_seconds=60)
        record = await run_cycle(runtime, runtime.clock.now(), slot="test:workers", mode="demo")
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=30)

    output = "\n".join(log.read_text()[-3000:] for log in logs)
    assert record.status == "completed", record.error + output
    analysed_by = {
        note for c in record.candidates for note in c.notes if note.startswith("analysed by")
    }
    assert record.candidates and all(c.signals for c in record.candidates), output
    # Every candidate came back from a worker process, not from a local fallback.
    assert analysed_by and all("local" not in note for note in analysed_by)


async def _two_alive(queue: RedisWorkQueue) -> bool:
    return len(await queue.live_workers()) == 2
