"""Memory of an idle `fingpt run` (target: < 500 MB resident).

Starts `fingpt run --no-bot` as a subprocess on the bundled sample (DATA_PROVIDER=offline, a
fresh SQLite database, the in-process bus), waits until /metrics answers, lets it sit idle,
and reads its resident memory (VmRSS) and peak (VmHWM) from /proc. With --cycle-now it first
runs one cycle, so the analysis models and caches are loaded: the honest "idle" of a service
that has been working. The embedding model is unloaded after EMBED_IDLE_SECONDS (120) unused,
so idle more than that to measure the idle state (--idle-seconds 150).

Usage:
    .venv/bin/python bench/ops_memory.py [--cycle-now] [--idle-seconds 10] [--var-dir DIR]
        [--embed-model-path ../shared/models/all-MiniLM-L6-v2-onnx]
Linux only (/proc). Results go to docs/benchmarks/ops.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_MODEL = ROOT.parent / "shared" / "models" / "all-MiniLM-L6-v2-onnx"
TARGET_MB = 500


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def proc_memory_mb(pid: int) -> dict[str, float]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values


def metrics_text(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as answer:
            return answer.read().decode()
    except OSError:
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cycle-now", action="store_true", help="run one cycle first")
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--embed-model-path", type=Path, default=SHARED_MODEL)
    parser.add_argument(
        "--var-dir",
        type=Path,
        help="VAR_DIR to use (and keep): a second run measures a restart, with the int8 copy of "
        "the embedding model already written by the first. Only DIR/models is kept between "
        "runs: with the old database the --cycle-now slot would count as already run and be "
        "skipped, and nothing would be measured",
    )
    args = parser.parse_args()
    if args.var_dir is not None:
        args.var_dir.mkdir(parents=True, exist_ok=True)
        for item in args.var_dir.iterdir():
            if item.name != "models":
                shutil.rmtree(item) if item.is_dir() else item.unlink()

    port = free_port()
    with tempfile.TemporaryDirectory() as scratch:
        folder = str(args.var_dir or scratch)
        env = {
            **os.environ,
            "DATA_PROVIDER": "offline",
            "DATABASE_URL": "",
            "VAR_DIR": folder,
            "METRICS_PORT": str(port),
            "APPROVAL_POLICY": "auto",
            "PYTHONPATH": str(ROOT),
        }
        for name in ("REDIS_URL", "TELEGRAM_BOT_TOKEN", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
            env.pop(name, None)
        if args.embed_model_path.is_dir():
            env["EMBED_MODEL_PATH"] = str(args.embed_model_path)
        command = [sys.executable, "-c", "from orchestrator.cli import main; main()", "run"]
        command += ["--no-bot", *(["--cycle-now"] if args.cycle_now else [])]
        started = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        try:
            while metrics_text(port) is None:
                if process.poll() is not None:
                    print(process.stdout.read().decode() if process.stdout else "")
                    raise SystemExit("fingpt run exited before serving /metrics")
                time.sleep(0.2)
            ready = time.perf_counter() - started
            if args.cycle_now:
                while "fingpt_cycles_total{" not in (metrics_text(port) or ""):
                    if time.perf_counter() - started > 600:
                        raise SystemExit("no finished cycle within 10 minutes")
                    time.sleep(0.5)
                finished = [
                    line
                    for line in (metrics_text(port) or "").splitlines()
                    if line.startswith("fingpt_cycles_total{")
                ]
                print("cycle:", ", ".join(finished))
            time.sleep(args.idle_seconds)
            memory = proc_memory_mb(process.pid)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                process.kill()
    rss, peak = memory["VmRSS"], memory["VmHWM"]
    label = "after one cycle" if args.cycle_now else "idle at start"
    print(f"fingpt run ({label}): ready in {ready:.1f} s")
    print(f"resident {rss:.0f} MB, peak {peak:.0f} MB (target < {TARGET_MB} MB)")
    print(f"exit code after SIGTERM: {process.returncode}")
    return 0 if rss < TARGET_MB else 1


if __name__ == "__main__":
    raise SystemExit(main())
