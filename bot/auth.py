"""Who may use the bot: one decorator for commands, free text and button presses alike.

Only chats in TELEGRAM_ALLOWED_CHAT_IDS get any answer; only users in TELEGRAM_ADMIN_USER_IDS
may act (approve or reject, run a cycle, pause, resume, kill switch, settings). Each refused
attempt is logged. A chat outside the list is told once that the bot is private and then
ignored, so the bot cannot be used to flood a stranger; a button press is always answered
(Telegram shows a spinner until it is) with a short refusal as a toast, never a message.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import Update

from bot.context import BotContext

log = logging.getLogger(__name__)

Handler = Callable[[Update, BotContext], Coroutine[Any, Any, None]]

PRIVATE = "Sorry, this is a private bot."
ADMINS_ONLY = "Sorry, only an admin can do that."


def authorized(admin: bool = False) -> Callable[[Handler], Handler]:
    """Run the handler only for an allowed chat (and, with `admin`, an admin user)."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(update: Update, context: BotContext) -> None:
            service = context.service
            chat = update.effective_chat
            user = update.effective_user
            chat_id = chat.id if chat else None
            user_id = user.id if user else None
            if chat_id is None or not service.is_allowed_chat(chat_id):
                log.warning(
                    "refused: chat not allowed chat_id=%s user_id=%s handler=%s",
                    chat_id,
                    user_id,
                    handler.__name__,
                )
                await _refuse(update, context, PRIVATE, chat_id, once=True)
                return
            if admin and (user_id is None or not service.is_admin(user_id)):
                log.warning(
                    "refused: not an admin chat_id=%s user_id=%s handler=%s",
                    chat_id,
                    user_id,
                    handler.__name__,
                )
                await _refuse(update, context, ADMINS_ONLY, chat_id, once=False)
                return
            await handler(update, context)

        return guarded

    return decorate


async def _refuse(
    update: Update, context: BotContext, text: str, chat_id: int | None, *, once: bool
) -> None:
    if update.callback_query is not None:
        await update.callback_query.answer(text)
        return
    if chat_id is None or update.effective_message is None:
        return
    if once:
        if chat_id in context.bot_data.refused_chats:
            return
        context.bot_data.refused_chats.add(chat_id)
    await update.effective_message.reply_text(text)
