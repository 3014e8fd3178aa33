"""Fixtures for the bot: the fake Bot API server, and the real application running against it.

The application is the real python-telegram-bot `Application` from `bot.app.build_application`,
pointed at `tests/fakes/telegram_server.py` through TELEGRAM_BASE_URL, over the real service
facade on a temporary SQLite database with the offline data sample and no OpenAI key.
"""

from __future__ import annotations

import asyncio
import os
import shutil
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


def _service_env(folder: Path) -> dict[str, str]:
    return {
        "DATA_PROVIDER": "offline",
        "DATABASE_URL": f"sqlite:///{folder / 'bot.db'}",
        "VAR_DIR": str(folder),
        "BROKER": "sim",
        "APPROVAL_POLICY": "confirm_all",
    }


@pytest.fixture(scope="session")
def trained_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh database whose forecast model is already trained on the offline sample.

    Training takes tens of seconds on a busy machine; each test starts from a copy of this
    database (the model registry points at the model file kept here), so only one test run pays.
    """
    from orchestrator.service.facade import Orchestrator

    folder = tmp_path_factory.mktemp("bot-template")

    async def train() -> None:
        service = await Orchestrator.create(get_settings())
        try:
            await service.forecast("AAPL")
        finally:
            await service.close()
            service.runtime.engine.dispose()  # checkpoints the WAL into bot.db

    with pytest.MonkeyPatch.context() as env:
        for name in Settings.model_fields:
            env.delenv(name.upper(), raising=False)
        for name, value in _service_env(folder).items():
            env.setenv(name, value)
        get_settings.cache_clear()
        asyncio.run(train())
    get_settings.cache_clear()
    return folder / "bot.db"


@pytest.fixture
def http_client() -> str:
    """TELEGRAM_HTTP_CLIENT of the bot under test: aiohttp (the default) unless the environment
    names another, so the whole suite can run on httpx too; a test may parametrize it."""
    return os.environ.get("TELEGRAM_HTTP_CLIENT", "aiohttp")


@pytest.fixture
def bot_settings(
    telegram: FakeTelegramServer,
    trained_database: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    http_client: str,
) -> Settings:
    """Settings of a private bot with one admin and one member, on the offline sample."""
    folder = tmp_path / "var"
    folder.mkdir(exist_ok=True)
    shutil.copyfile(trained_database, folder / "bot.db")
    env = {
        **_service_env(folder),
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_BASE_URL": telegram.base_url,
        "TELEGRAM_ALLOWED_CHAT_IDS": f"{ADMIN},{MEMBER}",
        "TELEGRAM_ADMIN_USER_IDS": str(ADMIN),
        "TELEGRAM_HTTP_CLIENT": http_client,
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
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        replies: int = 1,
        expect: str = "",
    ) -> list[Call]:
        """Send `text` as a person; wait for `replies` new messages (or photos) in that chat,
        counting only those containing `expect` (alerts may arrive in between)."""
        before = len(self.sent_to(chat_id))
        self.telegram.send_text(chat_id, text, user_id=user_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + REPLY_TIMEOUT
        while True:
            new = [c for c in self.sent_to(chat_id)[before:] if expect in text_of(c)]
            if len(new) >= replies:
                return new
            if loop.time() > deadline:
                seen = [text_of(c)[:80] for c in self.sent_to(chat_id)[before:]]
                raise AssertionError(f"no reply to {text!r} with {expect!r}: {seen}")
            await asyncio.sleep(0.01)

    async def wait_for_text(self, chat_id: int, expect: str, *, edited: bool = False) -> Call:
        """The first message sent (or, with `edited`, edit made) in a chat containing `expect`."""
        method = ("editMessageText",) if edited else ("sendMessage", "sendPhoto")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + REPLY_TIMEOUT
        while True:
            for call in list(self.telegram.calls):
                if (
                    call.method in method
                    and call.params.get("chat_id") == chat_id
                    and expect in text_of(call)
                ):
                    return call
            if loop.time() > deadline:
                seen = [
                    (c.method, text_of(c)[:80])
                    for c in list(self.telegram.calls)[-12:]
                    if c.params.get("chat_id") == chat_id
                ]
                raise AssertionError(f"nothing with {expect!r} in chat {chat_id}: {seen}")
            await asyncio.sleep(0.01)

    def sent_to(self, chat_id: int) -> list[Call]:
        return [
            c
            for c in list(self.telegram.calls)
            if c.method in ("sendMessage", "sendPhoto") and c.params.get("chat_id") == chat_id
        ]


def text_of(call: Call) -> str:
    """The text or caption of a message the bot sent or edited."""
    return str(call.params.get("text") or call.params.get("caption") or "")


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
