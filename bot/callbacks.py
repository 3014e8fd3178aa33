"""Inline button presses: Approve / Reject on a trade proposal.

Callback data carries only an action and the approval id ("ap:12", "rj:12"); everything else
is looked up by the service, so a forged press can do no more than name an id, and the admin
check guards it like a command.
"""

from __future__ import annotations

import logging
import re

from telegram import Update
from telegram.error import BadRequest

from bot.auth import authorized
from bot.context import BotContext
from bot.format import format_approval_outcome

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
    message = query.message
    if message is not None:
        # This message is edited here; the approval.resolved alert edits only the others.
        context.bot_data.approvals.take(approval_id, message.chat.id)
    decide = context.service.approve if action == "ap" else context.service.reject
    outcome = await decide(approval_id, user.id)
    try:
        await query.edit_message_text(
            format_approval_outcome(outcome, by=user.first_name),
            reply_markup=None,
        )
    except BadRequest as exc:
        # The message may be too old to edit or already show this text; the outcome stands.
        log.info("could not edit approval %s message: %s", approval_id, exc)


@authorized()
async def on_stale_button(update: Update, context: BotContext) -> None:
    """Answer a press on a button this version of the bot does not know."""
    if update.callback_query is not None:
        await update.callback_query.answer("This button is no longer valid.")
