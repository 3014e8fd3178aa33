"""Telegram handlers: each parses, calls the command table (one service call), and replies.

The one error handler lives here too: a `UserFacingError` is shown as is; anything else is
logged with the update's context and the user is told, briefly, that it failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatAction
from telegram.error import TelegramError
from telegram.ext import ExtBot

from bot import commands
from bot.auth import Handler, authorized
from bot.context import BotContext
from bot.format import CAPTION_LIMIT, split_html
from orchestrator.errors import UserFacingError

log = logging.getLogger(__name__)

# Telegram shows "typing…" for 5 seconds per chat action; renew it a little sooner.
TYPING_RENEW_SECONDS = 4.0
FAILED = "Sorry, something failed while handling that. It has been logged; please try again later."


def keyboard(reply: commands.Reply) -> InlineKeyboardMarkup | None:
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(b.label, callback_data=b.data) for b in row]
            for row in reply.buttons
        ]
    )


async def send_reply(
    bot: ExtBot[None], chat_id: int, reply: commands.Reply, *, silent: bool = False
) -> list[Message]:
    """Send a reply as one or more messages; buttons go on the last one. Returns what was sent."""
    sent: list[Message] = []
    chunks = split_html(reply.text_html)
    if reply.photo_png is not None:
        caption = chunks.pop(0) if chunks and len(chunks[0]) <= CAPTION_LIMIT else None
        markup = keyboard(reply) if not chunks else None
        sent.append(
            await bot.send_photo(
                chat_id,
                reply.photo_png,
                caption=caption,
                reply_markup=markup,
                disable_notification=silent,
            )
        )
    for index, chunk in enumerate(chunks):
        last = index == len(chunks) - 1
        sent.append(
            await bot.send_message(
                chat_id,
                chunk,
                reply_markup=keyboard(reply) if last else None,
                disable_notification=silent,
            )
        )
    return sent


def user_of(update: Update) -> commands.User:
    chat, user = update.effective_chat, update.effective_user
    return commands.User(
        chat_id=chat.id if chat else 0,
        user_id=user.id if user else None,
        name=user.first_name if user else "",
    )


def command_handler(command: commands.Command) -> Handler:
    """The Telegram handler of one entry of the command table."""

    async def handle(update: Update, context: BotContext) -> None:
        """Run the command and send its reply."""
        user = user_of(update)
        reply = await command.func(context.service, context.args or [], user)
        await send_reply(context.bot, user.chat_id, reply)

    # Named before guarding, so refusals in the log say which command was refused.
    handle.__name__ = handle.__qualname__ = f"on_{command.name}"
    return authorized(admin=command.admin)(handle)


@contextlib.asynccontextmanager
async def typing(bot: ExtBot[None], chat_id: int) -> AsyncIterator[None]:
    """Show "typing…" in the chat until the block ends."""

    async def keep_typing() -> None:
        while True:
            try:
                await bot.send_chat_action(chat_id, ChatAction.TYPING)
            except TelegramError:
                log.debug("chat action failed for chat %s", chat_id, exc_info=True)
            await asyncio.sleep(TYPING_RENEW_SECONDS)

    task = asyncio.create_task(keep_typing())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@authorized()
async def on_text(update: Update, context: BotContext) -> None:
    """Answer free text through the agent, with this chat's memory."""
    message = update.effective_message
    if message is None or not message.text:
        return
    user = user_of(update)
    async with typing(context.bot, user.chat_id):
        reply = await commands.ask(context.service, message.text, user)
    await send_reply(context.bot, user.chat_id, reply)


@authorized()
async def on_unknown_command(update: Update, context: BotContext) -> None:
    """Say that a command does not exist and point to /help."""
    message = update.effective_message
    parsed = commands.parse_command(message.text or "") if message else None
    name = parsed[0] if parsed else ""
    await context.bot.send_message(
        user_of(update).chat_id, f"There is no /{escape(name)} command. See /help."
    )


async def on_error(update: object, context: BotContext) -> None:
    """Log a failed update with its context and tell the chat briefly; never a stack trace."""
    error = context.error
    chat = update.effective_chat if isinstance(update, Update) else None
    if isinstance(error, UserFacingError):
        log.info("user-facing error in chat %s: %s", chat.id if chat else None, error)
        text = escape(str(error))
    else:
        message = update.effective_message if isinstance(update, Update) else None
        log.error(
            "update failed: update_id=%s chat_id=%s user_id=%s text=%r",
            update.update_id if isinstance(update, Update) else None,
            chat.id if chat else None,
            update.effective_user.id
            if isinstance(update, Update) and update.effective_user
            else None,
            (message.text or "")[:80] if message else None,
            exc_info=error,
        )
        text = FAILED
    if chat is None or not context.service.is_allowed_chat(chat.id):
        return
    try:
        await context.bot.send_message(chat.id, text)
    except TelegramError:
        log.warning("could not tell chat %s about the failure", chat.id, exc_info=True)
