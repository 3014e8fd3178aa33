"""The aiohttp request class: what the library sees when the Bot API is slow or unreachable.

A timeout must become `telegram.error.TimedOut` and a failed connection `NetworkError` (the
library retries polls on both, and the bot's error handler tells the user briefly), and neither
message nor traceback may show the bot token, which the Bot API puts in every URL.
"""

from __future__ import annotations

import asyncio
import socket
import traceback
from collections.abc import AsyncIterator

import pytest
from telegram import Bot
from telegram.error import NetworkError, TimedOut

from bot.request import AiohttpRequest
from tests.bot.conftest import TOKEN
from tests.fakes.telegram_server import BOT_USERNAME, FakeTelegramServer


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _shown(error: BaseException) -> str:
    """Everything a log line with this error's traceback would print."""
    return "".join(traceback.format_exception(error))


@pytest.fixture
async def silent_server() -> AsyncIterator[str]:
    """A server that accepts connections and reads requests but never answers."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        await reader.read(65536)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/bot"
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_bot_on_aiohttp_talks_to_the_bot_api() -> None:
    with FakeTelegramServer() as telegram:
        bot = Bot(TOKEN, base_url=telegram.base_url, request=AiohttpRequest())
        async with bot:
            assert bot.username == BOT_USERNAME
            message = await bot.send_message(42, "<b>hi</b> & 42", parse_mode="HTML")
            photo = await bot.send_photo(42, b"\x89PNG fake", caption="chart")
        assert message.text == "<b>hi</b> & 42" and message.chat.id == 42
        (sent,) = telegram.calls_of("sendMessage")
        assert sent.params["text"] == "<b>hi</b> & 42" and sent.params["parse_mode"] == "HTML"
        (uploaded,) = telegram.calls_of("sendPhoto")
        assert uploaded.files["photo"] == b"\x89PNG fake" and uploaded.params["caption"] == "chart"
        assert photo.caption == "chart"


async def test_no_answer_within_the_read_timeout_is_timed_out(silent_server: str) -> None:
    request = AiohttpRequest(read_timeout=0.2)
    bot = Bot(TOKEN, base_url=silent_server, request=request)
    await request.initialize()
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(TimedOut) as caught:
            await bot.send_message(42, "hello")
        assert loop.time() - started < 3.0
    finally:
        await request.shutdown()
    assert TOKEN not in _shown(caught.value)


async def test_a_timeout_given_to_one_call_wins_over_the_default(silent_server: str) -> None:
    request = AiohttpRequest(read_timeout=30.0)
    bot = Bot(TOKEN, base_url=silent_server, request=request)
    await request.initialize()
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(TimedOut):
            await bot.send_message(42, "hello", read_timeout=0.2)
        assert loop.time() - started < 3.0
    finally:
        await request.shutdown()


async def test_a_full_pool_is_timed_out_and_nothing_sent(silent_server: str) -> None:
    request = AiohttpRequest(connection_pool_size=1, read_timeout=5.0, pool_timeout=0.2)
    bot = Bot(TOKEN, base_url=silent_server, request=request)
    await request.initialize()
    try:
        stuck = asyncio.create_task(bot.send_message(42, "first"))
        await asyncio.sleep(0.1)
        with pytest.raises(TimedOut) as caught:
            await bot.send_message(42, "second")
        stuck.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stuck
    finally:
        await request.shutdown()
    assert "Pool timeout" in str(caught.value)


async def test_a_connect_timeout_does_not_show_the_token(
    silent_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # aiohttp's own message for this one quotes the request URL, token included.
    async def never_connects(*args: object, **kwargs: object) -> None:
        await asyncio.sleep(10)

    request = AiohttpRequest(connect_timeout=0.2)
    bot = Bot(TOKEN, base_url=silent_server, request=request)
    await request.initialize()
    try:
        connector = request._session.connector  # type: ignore[union-attr]
        monkeypatch.setattr(connector, "_create_connection", never_connects)
        with pytest.raises(TimedOut) as caught:
            await bot.send_message(42, "hello")
    finally:
        await request.shutdown()
    assert "aiohttp.ConnectionTimeoutError" in str(caught.value)
    assert TOKEN not in _shown(caught.value)


async def test_a_refused_connection_is_a_network_error() -> None:
    base_url = f"http://127.0.0.1:{_free_port()}/bot"
    request = AiohttpRequest()
    bot = Bot(TOKEN, base_url=base_url, request=request)
    await request.initialize()
    try:
        with pytest.raises(NetworkError) as caught:
            await bot.send_message(42, "hello")
    finally:
        await request.shutdown()
    assert not isinstance(caught.value, TimedOut)
    assert "Cannot connect" in str(caught.value)
    assert TOKEN not in _shown(caught.value)


async def test_a_request_before_initialize_fails_clearly() -> None:
    request = AiohttpRequest()
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request("http://127.0.0.1:1/bot/getMe", "POST")


def test_a_pool_needs_a_connection() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        AiohttpRequest(connection_pool_size=0)


def _only_proxy_env(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)


async def test_requests_go_through_the_proxy_of_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The fake server answers a proxied request (absolute URL in the request line) as if it
    # were Telegram; the Bot API host itself does not exist, so only the proxy can answer.
    with FakeTelegramServer() as telegram:
        proxy = telegram.base_url.removesuffix("/bot")
        _only_proxy_env(monkeypatch, http_proxy=proxy)
        request = AiohttpRequest()
        bot = Bot(TOKEN, base_url="http://telegram.invalid/bot", request=request)
        async with bot:
            await bot.send_message(42, "via the proxy")
            await bot.send_message(42, "again")
        assert [c.params["text"] for c in telegram.calls_of("sendMessage")] == [
            "via the proxy",
            "again",
        ]


async def test_no_proxy_hosts_are_reached_directly(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeTelegramServer() as telegram:
        _only_proxy_env(
            monkeypatch, http_proxy=f"http://127.0.0.1:{_free_port()}", no_proxy="127.0.0.1"
        )
        bot = Bot(TOKEN, base_url=telegram.base_url, request=AiohttpRequest())
        async with bot:
            await bot.send_message(42, "direct")
        assert telegram.calls_of("sendMessage", text="direct")
