"""Benchmark: handling time of non-LLM bot commands with many chats sending at once.

The real application (`bot.app.build_application`, long polling) runs against the fake Bot API
server (tests/fakes/telegram_server.py) over the real service facade on a fresh SQLite database
with the offline sample. In each round every chat sends one command at the same moment; the
handling time of an update is from the moment `getUpdates` hands it to the bot to the moment
the server receives the bot's reply (both stamped by the server's clock).

    .venv/bin/python bench/bot_commands.py --chats 50 --rounds 10

Target (issue 8): p99 < 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes.telegram_server import Call, FakeTelegramServer  # noqa: E402

# Read-only commands a person sends most, none of which calls an LLM.
COMMANDS = (
    "/status",
    "/portfolio",
    "/positions",
    "/orders",
    "/pnl 7",
    "/pending",
    "/risk",
    "/history 5",
    "/cost",
    "/help",
)
FIRST_CHAT = 10_000


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


async def run(chats: int, rounds: int) -> dict[str, object]:
    from bot.app import build_application, serve
    from orchestrator.config import get_settings
    from orchestrator.service.facade import Orchestrator

    delivered: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as folder, FakeTelegramServer() as telegram:
        chat_ids = list(range(FIRST_CHAT, FIRST_CHAT + chats))
        os.environ.update(
            TELEGRAM_BOT_TOKEN="123456:BENCH",
            TELEGRAM_BASE_URL=telegram.base_url,
            TELEGRAM_ALLOWED_CHAT_IDS=",".join(map(str, chat_ids)),
            TELEGRAM_ADMIN_USER_IDS=str(FIRST_CHAT),
            DATA_PROVIDER="offline",
            DATABASE_URL=f"sqlite:///{folder}/bench.db",
            VAR_DIR=folder,
            BROKER="sim",
        )
        os.environ.pop("OPENAI_API_KEY", None)
        os.environ.pop("REDIS_URL", None)
        get_settings.cache_clear()
        settings = get_settings()
        service = await Orchestrator.create(settings)
        telegram.on_delivered = lambda update_id: delivered.setdefault(update_id, time.monotonic())
        application = build_application(service, settings, max_messages_per_second=0)
        stop = asyncio.Event()
        task = asyncio.create_task(serve(application, settings, stop))
        await telegram.wait_for("getUpdates", timeout=60)

        latencies: dict[str, list[float]] = {c: [] for c in COMMANDS}
        started = time.perf_counter()
        for index in range(rounds):
            command = COMMANDS[index % len(COMMANDS)]
            before = {c: len(telegram.texts_to(c)) for c in chat_ids}
            sent = {c: telegram.send_text(c, command) for c in chat_ids}
            pending = set(chat_ids)
            deadline = time.monotonic() + 60
            while pending and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
                by_chat: dict[int, list[Call]] = {}
                for call in list(telegram.calls):
                    if call.method == "sendMessage":
                        by_chat.setdefault(call.params.get("chat_id"), []).append(call)
                for chat in list(pending):
                    replies = by_chat.get(chat, [])
                    if len(replies) > before[chat]:
                        latencies[command].append(replies[before[chat]].at - delivered[sent[chat]])
                        pending.discard(chat)
            if pending:
                raise SystemExit(f"{len(pending)} chats got no reply to {command}")
        elapsed = time.perf_counter() - started
        stop.set()
        await task
        await service.close()

    every = [v * 1000 for values in latencies.values() for v in values]
    return {
        "chats": chats,
        "rounds": rounds,
        "updates": len(every),
        "p50_ms": round(statistics.median(every), 1),
        "p95_ms": round(percentile(every, 95), 1),
        "p99_ms": round(percentile(every, 99), 1),
        "max_ms": round(max(every), 1),
        "updates_per_s": round(len(every) / elapsed, 1),
        "p99_by_command_ms": {
            c: round(percentile([v * 1000 for v in vs], 99), 1) for c, vs in latencies.items() if vs
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    result = asyncio.run(run(args.chats, args.rounds))
    for key, value in result.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
