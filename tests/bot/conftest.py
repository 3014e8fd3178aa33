"""Fixtures for the bot: the fake Bot API server, and the real application running against it.

The application is the real python-telegram-bot `Application` from `bot.app.build_application`,
pointed at `tests/fakes/telegram_server.py` through TELEGRAM_BASE_URL, over the real service
facade on a temporary SQLite database with the offline data sample and no OpenAI key.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from telegram.ext import ExtBot

from orchestrator.config import Settings, get_settings
from tests.fakes.telegram_server import Call, FakeTelegramServer

if TYPE_CHECKING:
    from bot.context import BotApplication
    from orchestrator.service.facade import Orchestrator

TOKEN = "123456:TEST-token-never-shown"
ADMIN = 100  # an allowed chat whose user is an admin
MEMBER = 200  # an allowed chat whose user may read but not act
STRANGER = 300  # neither


@pytest.fixture
def telegram() -> Iterator[FakeTelegramServer]:
    with FakeTelegramServer() as server:
        yield server


@pytest.fixture
def bot_settings(
    telegram: FakeTelegramServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """Settings of a private bot with one admin and one member, on the offline sample."""
    (tmp_path / "var").mkdir(exist_ok=True)
    env = {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_BASE_URL": telegram.base_url,
        "TELEGRAM_ALLOWED_CHAT_IDS": f"{ADMIN},{MEMBER}",
        "TELEGRAM_ADMIN_USER_IDS": str(ADMIN),
        "DATA_PROVIDER": "offline",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'bot.db'}",
        "BROKER": "sim",
        "APPROVAL_POLICY": "confirm_all",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    return get_settings()


@pytest.fixture
async def ext_bot(telegram: FakeTelegramServer) -> AsyncIterator[ExtBot[None]]:
    """A bare bot client on the fake server (for the alert pusher alone)."""
    from bot.app import bot_defaults, file_url_for

    bot: ExtBot[None] = ExtBot(
        TOKEN,
        base_url=telegram.base_url,
        base_file_url=file_url_for(telegram.base_url),
        defaults=bot_defaults(),
    )
    async with bot:
        yield bot


async def wait_until_polling(telegram: FakeTelegramServer) -> None:
    await telegram.wait_for("getUpdates", timeout=15)
    await asyncio.sleep(0)


@pytest.fixture
async def service(bot_settings: Settings) -> AsyncIterator[Orchestrator]:
    """The real service facade over a fresh SQLite database and the offline sample."""
    from orchestrator.service.facade import Orchestrator

    facade = await Orchestrator.create(bot_settings)
    try:
        yield facade
    finally:
        await facade.close()


class RunningBot:
    """The real application polling the fake server, with helpers to talk to it."""

    def __init__(self, application: BotApplication, telegram: FakeTelegramServer) -> None:
        self.application = application
        self.telegram = telegram

    async def say(
        self, chat_id: int, text: str, *, user_id: int | None = None, replies: int = 1
    ) -> list[Call]:
        """Send `text` as a person and wait for `replies` messages (or photos) in that chat."""
        before = len(self.sent_to(chat_id))
        self.telegram.send_text(chat_id, text, user_id=user_id)
        deadline = asyncio.get_running_loop().time() + REPLY_TIMEOUT
        while len(self.sent_to(chat_id)) < before + replies:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(
                    f"no reply to {text!r} in chat {chat_id}: {self.sent_to(chat_id)}"
                )
            await asyncio.sleep(0.01)
        return self.sent_to(chat_id)[before:]

    def sent_to(self, chat_id: int) -> list[Call]:
        return [
            c
            for c in list(self.telegram.calls)
            if c.method in ("sendMessage", "sendPhoto") and c.params.get("chat_id") == chat_id
        ]


# Generous for a loaded 2-core machine; a healthy reply takes well under a second.
REPLY_TIMEOUT = 30.0


@pytest.fixture
async def running_bot(
    service: Orchestrator, bot_settings: Settings, telegram: FakeTelegramServer
) -> AsyncIterator[RunningBot]:
    """`build_application` + `serve` (long polling) in this event loop, stopped afterwards."""
    from bot.app import build_application, serve

    application = build_application(service, bot_settings, max_messages_per_second=0)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(application, bot_settings, stop))
    await telegram.wait_for("getUpdates", timeout=REPLY_TIMEOUT)
    try:
        yield RunningBot(application, telegram)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=REPLY_TIMEOUT)
