"""Fixtures for the bot: the fake Bot API server, and the real application running against it.

The application is the real python-telegram-bot `Application` from `bot.app.build_application`,
pointed at `tests/fakes/telegram_server.py` through TELEGRAM_BASE_URL, over the real service
facade on a temporary SQLite database with the offline data sample and no OpenAI key.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from telegram.ext import ExtBot

from orchestrator.config import Settings, get_settings
from tests.fakes.telegram_server import FakeTelegramServer

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
