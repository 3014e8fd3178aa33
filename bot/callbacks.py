"""Inline button presses: Approve / Reject on a trade proposal.

Callback data carries only an action and the approval id ("ap:12", "rj:12"); everything else
is looked up by the service, so a forged press can do no more than name an id, and the admin
check guards it like a command.
"""

from __future__ import annotations

import logging
import re
from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest

from bot.auth import authorized
from bot.context import BotContext
from bot.format import format_approval_outcome
from orchestrator.errors import UserFacingError

log = logging.getLogger(__name__)

APPROVAL_PATTERN = re.compile(r"^(ap|rj):([A-Za-z0-9_-]{1,40})$")


@authorized(admin=True)
async def on_approval_button(update: Update, context: BotContext) -> None:
    """Approve or reject the proposal whose button was pressed, then show the outcome."""
    query = update.callback_query
    if query is None or query.data is None:
        return
    await query.answer()
    match = APPROVAL_PATTERN.match(query.data)
    if match is None:
        return
    action, approval_id = match.groups()
    user = update.effective_user
    if user is None:  # the admin check already refused it; kept for the type checker
        return
    message = query.message if isinstance(query.message, Message) else None
    approvals = context.bot_data.approvals
    proposal = approvals.text(approval_id)
    if message is not None:
        # Edited below, so the approval.resolved alert that deciding emits leaves it alone.
        approvals.forget(approval_id, message.chat.id, message.message_id)
    decide = context.service.approve if action == "ap" else context.service.reject
    try:
        outcome = await decide(approval_id, user.id)
    except UserFacingError as exc:
        log.info("approval %s button: %s", approval_id, exc)
        text = f"ℹ️ {escape(str(exc))}"
        pending = {a.id for a in await context.service.pending_approvals()}
        if approval_id in pending or message is None:
            # Still pending (trading paused, say): the buttons stay for a later press.
            if (
                message is not None
                and proposal is not None
                and not _rows_without(message, approval_id)
            ):
                approvals.remember(approval_id, message.chat.id, message.message_id, proposal)
            if update.effective_chat is not None:
                await context.bot.send_message(update.effective_chat.id, text)
            return
        # Already decided, expired or unknown: this button can do nothing more, so it goes.
        await _show(message, context, approval_id, text, proposal or message.text_html)
        return
    if message is not None:
        text = format_approval_outcome(outcome, by=user.first_name)
        await _show(message, context, approval_id, text, None)


async def _show(
    message: Message,
    context: BotContext,
    approval_id: str,
    text: str,
    proposal: str | None,
) -> None:
    """Put `text` where the pressed button was: the proposal's own message is edited (buttons
    removed); a message listing several approvals (/pending) loses only this one's buttons and
    the outcome comes as a new message."""
    others = _rows_without(message, approval_id)
    try:
        if others:
            await message.edit_reply_markup(InlineKeyboardMarkup(others))
            await context.bot.send_message(message.chat.id, text)
        else:
            full = f"{proposal}\n\n{text}" if proposal else text
            await message.edit_text(full, reply_markup=None)
    except BadRequest as exc:
        # The message may be too old to edit or already show this text; the outcome stands.
        log.info("could not update approval %s message: %s", approval_id, exc)


def _rows_without(message: Message, approval_id: str) -> list[list[InlineKeyboardButton]]:
    """The message's button rows that belong to other approvals."""
    mine = {f"ap:{approval_id}", f"rj:{approval_id}"}
    markup = message.reply_markup
    rows = markup.inline_keyboard if markup is not None else ()
    return [list(row) for row in rows if not any(b.callback_data in mine for b in row)]


@authorized()
async def on_stale_button(update: Update, context: BotContext) -> None:
    """Answer a press on a button this version of the bot does not know."""
    if update.callback_query is not None:
        await update.callback_query.answer("This button is no longer valid.")
