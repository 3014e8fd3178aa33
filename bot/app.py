"""The Telegram application: built in one function, run by long polling or a webhook.

`build_application(service, settings)` wires everything (handlers, the error handler, rate
limiting, HTML defaults, the command menu and the alert subscriber); `serve(app, settings,
stop)` runs it inside the caller's event loop until `stop` is set, so the bot can share one
loop with the scheduler (no second event loop, no thread).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import signal
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from telegram import BotCommand, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.ext import (
    AIORateLimiter,
    ApplicationBuilder,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    MessageHandler,
    filters,
)

from bot import commands
from bot.alerts import AlertPusher, parse_alert_levels
from bot.callbacks import APPROVAL_PATTERN, on_approval_button, on_stale_button
from bot.context import BotApplication, BotContext, BotData
from bot.handlers import command_handler, on_error, on_text, on_unknown_command
from bot.request import AiohttpRequest
from orchestrator.config import Settings
from orchestrator.errors import ConfigError
from orchestrator.service.system import freeze_heap

if TYPE_CHECKING:
    from orchestrator.service.facade import Orchestrator

log = logging.getLogger(__name__)

# Telegram's documented ceiling for one bot is about 30 messages a second across all chats.
TELEGRAM_MESSAGES_PER_SECOND = 30.0
# Updates handled at once across different chats (one chat's updates stay in order).
MAX_CONCURRENT_UPDATES = 64
# Where the webhook server listens when TELEGRAM_WEBHOOK_URL is set (a reverse proxy forwards).
WEBHOOK_LISTEN = "0.0.0.0"  # noqa: S104 (a webhook must accept Telegram's connections)


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Updates of different chats run concurrently; updates of one chat run in order.

    Fifty people asking at once do not queue behind each other, while one person's
    "/approve 3" and "/status" are still answered in the order they were sent.
    """

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        # chat id -> (its lock, updates holding or waiting for it); idle chats are forgotten.
        self._chats: dict[int, tuple[asyncio.Lock, list[int]]] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        lock, users = self._chats.setdefault(chat.id, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                await coroutine
        finally:
            users[0] -= 1
            if users[0] == 0:
                self._chats.pop(chat.id, None)

    async def initialize(self) -> None:
        """Nothing to allocate."""

    async def shutdown(self) -> None:
        self._chats.clear()


def file_url_for(base_url: str) -> str:
    """The file-download URL that goes with a Bot API base URL (".../bot" -> ".../file/bot")."""
    head, sep, _ = base_url.rstrip("/").rpartition("/bot")
    return f"{head}/file/bot" if sep else base_url.rstrip("/") + "/file/bot"


class RedactToken(logging.Filter):
    """Replaces bot tokens in log lines: the Bot API puts the token in every request URL, and
    httpx logs each URL at INFO. One filter holds every token this process has used, and
    replaces the longest first, so a token that begins with another is still hidden whole."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        hits = [token for token in self.tokens if token in text]
        if hits:
            for token in sorted(hits, key=len, reverse=True):
                text = text.replace(token, "<bot-token>")
            record.msg, record.args = text, ()
        return True


_REDACT = RedactToken()


def guard_http_logs(token: str) -> None:
    """Keep the token out of httpx's request log, and that log (one line per Bot API call,
    polls included) down to warnings unless someone chose a level for it."""
    http = logging.getLogger("httpx")
    if http.level == logging.NOTSET:
        http.setLevel(logging.WARNING)
    _REDACT.tokens.add(token)
    if _REDACT not in http.filters:
        http.addFilter(_REDACT)


def bot_defaults() -> Defaults:
    """HTML replies without link previews: what every message of the bot uses."""
    return Defaults(
        parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True)
    )


def build_application(
    service: Orchestrator,
    settings: Settings,
    *,
    max_messages_per_second: float = TELEGRAM_MESSAGES_PER_SECOND,
) -> BotApplication:
    """The whole bot, ready for `serve` (or `run_polling`).

    Raises `ConfigError` when TELEGRAM_BOT_TOKEN is unset or ALERT_LEVELS is malformed.
    `max_messages_per_second=0` switches the overall rate limit off (a local Bot API server).
    """
    if settings.telegram_bot_token is None:
        raise ConfigError("TELEGRAM_BOT_TOKEN is not set: create a bot with @BotFather first.")
    levels = parse_alert_levels(settings.alert_levels)
    guard_http_logs(settings.telegram_bot_token.get_secret_value())
    builder = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token.get_secret_value())
        .context_types(ContextTypes(context=BotContext, bot_data=BotData))
        .defaults(bot_defaults())
        .rate_limiter(AIORateLimiter(overall_max_rate=max_messages_per_second, max_retries=3))
        .concurrent_updates(PerChatUpdateProcessor(MAX_CONCURRENT_UPDATES))
        .post_init(_post_init)
    )
    if settings.telegram_http_client == "aiohttp":
        # One pool for replies, one connection for the long poll (the library's own sizes).
        builder = builder.request(AiohttpRequest()).get_updates_request(
            AiohttpRequest(connection_pool_size=1)
        )
    if settings.telegram_base_url:
        builder = builder.base_url(settings.telegram_base_url).base_file_url(
            file_url_for(settings.telegram_base_url)
        )
    application: BotApplication = builder.build()  # type: ignore[assignment]
    application.bot_data.service = service

    only_new_messages = filters.UpdateType.MESSAGE
    for command in commands.COMMANDS.values():
        application.add_handler(
            CommandHandler(command.name, command_handler(command), filters=only_new_messages)
        )
    application.add_handler(MessageHandler(filters.COMMAND & only_new_messages, on_unknown_command))
    application.add_handler(
        MessageHandler(filters.TEXT & ~filters.COMMAND & only_new_messages, on_text)
    )
    application.add_handler(CallbackQueryHandler(on_approval_button, pattern=APPROVAL_PATTERN))
    application.add_handler(CallbackQueryHandler(on_stale_button))
    application.add_error_handler(on_error)

    if not settings.telegram_allowed_chat_ids:
        log.warning("TELEGRAM_ALLOWED_CHAT_IDS is empty: the bot will refuse every chat")
    pusher = AlertPusher(
        application.bot, application.bot_data, list(settings.telegram_allowed_chat_ids), levels
    )
    pusher.subscribe(service.bus)
    return application


async def _post_init(application: BotApplication) -> None:
    """Fill the command menu that Telegram clients show next to the text box."""
    await application.bot.set_my_commands(
        [BotCommand(c.name, c.description) for c in commands.COMMANDS.values()]
    )


def webhook_secret(settings: Settings) -> str:
    """A secret Telegram echoes on every webhook call, derived from the token (never logged)."""
    assert settings.telegram_bot_token is not None
    token = settings.telegram_bot_token.get_secret_value()
    return hashlib.sha256(b"fingpt-webhook:" + token.encode()).hexdigest()[:48]


async def serve(application: BotApplication, settings: Settings, stop: asyncio.Event) -> None:
    """Run the bot in this event loop until `stop` is set: long polling, or a webhook when
    TELEGRAM_WEBHOOK_URL is set. Network errors while polling are retried by the library."""
    async with application:
        await _post_init(application)
        await application.start()
        updater = application.updater
        assert updater is not None
        if settings.telegram_webhook_url:
            url = urlsplit(settings.telegram_webhook_url)
            await updater.start_webhook(
                listen=WEBHOOK_LISTEN,
                port=settings.telegram_webhook_port,
                url_path=url.path.lstrip("/"),
                webhook_url=settings.telegram_webhook_url,
                secret_token=webhook_secret(settings),
                allowed_updates=Update.ALL_TYPES,
            )
        else:
            await updater.start_polling(allowed_updates=Update.ALL_TYPES, poll_interval=0.0)
        freeze_heap()
        try:
            await stop.wait()
        finally:
            await updater.stop()
            await application.stop()


async def run_bot(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """`fingpt bot` / `python -m bot`: the service and the bot alone, until SIGINT/SIGTERM or
    `stop`. Raises `ConfigError` when the bot or the service cannot be configured."""
    from orchestrator.service.facade import Orchestrator

    if settings.telegram_bot_token is None:
        raise ConfigError("TELEGRAM_BOT_TOKEN is not set: create a bot with @BotFather first.")
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    service = await Orchestrator.create(settings)
    try:
        application = build_application(service, settings)
        # Alerts flow once the bus delivers (a no-op in-process; consumer groups on Redis).
        await service.bus.start()
        mode = "webhook" if settings.telegram_webhook_url else "long polling"
        log.info(
            "bot running (%s); %d allowed chats", mode, len(settings.telegram_allowed_chat_ids)
        )
        await serve(application, settings, stop)
    finally:
        await service.close()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
