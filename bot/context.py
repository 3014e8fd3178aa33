"""The typed state every handler reaches: the service, and what the bot remembers per approval.

Handlers receive a `BotContext`; `context.service` is the facade and `context.bot_data` a
`BotData` (both set once by `bot.app.build_application`).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from telegram.ext import Application, CallbackContext, ExtBot

if TYPE_CHECKING:
    from orchestrator.service.facade import Orchestrator

# Proposals are answered or expire within the approval timeout; remembering the last few hundred
# covers many days of cycles without letting the map grow forever.
MAX_REMEMBERED_APPROVALS = 500


class ApprovalMessages:
    """Which message shows which approval in which chat, and its proposal text, for later edits."""

    def __init__(self) -> None:
        self._messages: OrderedDict[str, dict[int, int]] = OrderedDict()
        self._texts: dict[str, str] = {}

    def remember(self, approval_id: str, chat_id: int, message_id: int, text_html: str) -> None:
        self._messages.setdefault(approval_id, {})[chat_id] = message_id
        self._texts[approval_id] = text_html
        while len(self._messages) > MAX_REMEMBERED_APPROVALS:
            old, _ = self._messages.popitem(last=False)
            self._texts.pop(old, None)

    def take(self, approval_id: str, chat_id: int | None = None) -> dict[int, int]:
        """Forget and return the messages still showing buttons (one chat's, or all)."""
        messages = self._messages.get(approval_id, {})
        if chat_id is None:
            taken = dict(messages)
            messages.clear()
        else:
            taken = {chat_id: messages.pop(chat_id)} if chat_id in messages else {}
        return taken

    def forget(self, approval_id: str, chat_id: int, message_id: int) -> None:
        """Stop tracking one message (it was just edited where the button was pressed)."""
        messages = self._messages.get(approval_id, {})
        if messages.get(chat_id) == message_id:
            del messages[chat_id]

    def text(self, approval_id: str) -> str | None:
        return self._texts.get(approval_id)


class BotData:
    """`bot_data` of the application: one instance, created by python-telegram-bot."""

    def __init__(self) -> None:
        self.service: Orchestrator | None = None
        self.approvals = ApprovalMessages()
        # Chats outside the allowed list that were already told so: they are refused once.
        self.refused_chats: set[int] = set()


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], BotData]):
    """The handler context, with the service one attribute away."""

    @property
    def service(self) -> Orchestrator:
        service = self.bot_data.service
        if service is None:
            raise RuntimeError("build_application did not attach the service")
        return service


BotApplication = Application[ExtBot[None], BotContext, dict[Any, Any], dict[Any, Any], BotData, Any]
