"""Push alerts: an event-bus subscriber that tells every allowed chat what the engine did.

Each alert kind is on (a message with a notification), silent (a message without one) or
off, by ALERT_LEVELS ("cycle.summary=silent,order.filled=on"). An approval request carries
Approve / Reject buttons; when the approval is resolved elsewhere (another chat, the console,
or expiry) the bot edits those messages so no stale button stays pressable.

Failure contract: a chat that cannot be reached is logged and skipped; the other chats still
get the alert. Malformed events are logged and dropped, never raised into the bus.
"""

from __future__ import annotations

import logging
from html import escape
from typing import TYPE_CHECKING, Any, Literal

from telegram.error import TelegramError
from telegram.ext import ExtBot

from bot import commands
from bot import format as fmt
from bot.context import BotData
from bot.handlers import send_reply
from orchestrator.errors import ConfigError
from orchestrator.events import Event
from orchestrator.service.views import ApprovalView, CycleSummary, OrderView

if TYPE_CHECKING:
    from orchestrator.service.facade import Orchestrator

log = logging.getLogger(__name__)

Level = Literal["on", "silent", "off"]

# Kinds a user can tune, and how loud each is unless ALERT_LEVELS says otherwise: things that
# need a person (approvals, rejections, kill switch, failures) ring; routine news is silent.
DEFAULT_LEVELS: dict[str, Level] = {
    "approval.requested": "on",
    "order.submitted": "silent",
    "order.filled": "on",
    "order.rejected": "on",
    "risk.blocked": "silent",
    "killswitch": "on",
    "cycle.summary": "silent",
    "daily.summary": "silent",
    "error": "on",
}

SUBSCRIBED = (
    "approval.requested",
    "approval.resolved",
    "approval.expired",
    "order.submitted",
    "order.filled",
    "order.rejected",
    "risk.verdict",
    "killswitch.changed",
    "cycle.completed",
    "cycle.failed",
    "daily.summary",
    "alert",
)


def parse_alert_levels(text: str) -> dict[str, Level]:
    """DEFAULT_LEVELS overridden by "kind=level,..."; raises `ConfigError` naming a bad entry."""
    levels = dict(DEFAULT_LEVELS)
    for entry in filter(None, (e.strip() for e in text.split(","))):
        kind, _, level = (p.strip().lower() for p in entry.partition("="))
        if kind not in levels:
            raise ConfigError(
                f"ALERT_LEVELS: unknown alert {kind!r}; known: {', '.join(DEFAULT_LEVELS)}"
            )
        if level not in ("on", "silent", "off"):
            raise ConfigError(f"ALERT_LEVELS: {kind} must be on, silent or off, not {level!r}")
        levels[kind] = level  # type: ignore[assignment]
    return levels


def alert_for(event: Event) -> tuple[str, commands.Reply] | None:
    """The alert kind and message of an event, or None when it is not worth a message."""
    p = event.payload
    if event.type in ("order.submitted", "order.filled", "order.rejected"):
        order = OrderView.model_validate(p.get("order") or {"order_type": "market", **p})
        return event.type, commands.Reply(_ORDER_TITLES[event.type] + fmt.format_order(order))
    if event.type == "risk.verdict":
        if p.get("status") != "blocked":
            return None
        reasons = "; ".join(p.get("reasons") or []) or "a risk limit"
        text = f"🛑 Risk blocked {p.get('side', '')} {p.get('symbol', '')}: {reasons}"
        return "risk.blocked", commands.Reply(escape(text))
    if event.type == "killswitch.changed":
        state = "ON: all trading halted" if p.get("active") else "off: trading may resume"
        reason = f" ({p['reason']})" if p.get("reason") else ""
        return "killswitch", commands.Reply(escape(f"⛔ Kill switch {state}{reason}"))
    if event.type == "cycle.completed":
        return "cycle.summary", commands.Reply(fmt.format_cycle(_summary(event)))
    if event.type == "cycle.failed":
        text = f"⚠️ Cycle failed{' in ' + p['step'] if p.get('step') else ''}: {p.get('error', '')}"
        return "error", commands.Reply(escape(text))
    if event.type == "daily.summary":
        text = (
            f"📅 {p.get('session')}: equity ${float(p.get('equity', 0)):,.2f}, "
            f"P&L ${float(p.get('pnl', 0)):,.2f} ({float(p.get('pnl_pct', 0)):+.2f}%), "
            f"{p.get('cycles', 0)} cycles, {p.get('orders', 0)} orders, "
            f"LLM ${float(p.get('cost_usd', 0)):,.2f}"
        )
        return "daily.summary", commands.Reply(escape(text))
    if event.type == "alert":
        title = p.get("title", "")
        body = "\n".join(x for x in (title, p.get("text", "")) if x)
        mark = {"error": "⚠️", "warning": "⚠️"}.get(p.get("level", "info"), "ℹ️")
        kind = "error" if p.get("level") == "error" else "cycle.summary"
        return kind, commands.Reply(f"{mark} {escape(body)}")
    return None


_ORDER_TITLES = {
    "order.submitted": "📤 Order submitted: ",
    "order.filled": "✅ Order filled: ",
    "order.rejected": "❌ Order rejected: ",
}


def _summary(event: Event) -> CycleSummary:
    p = event.payload
    if "summary" in p:
        return CycleSummary.model_validate(p["summary"])
    # The flat v1 payload: enough for a one-message summary.
    return CycleSummary(
        cycle_id=event.cycle_id or 0,
        slot="",
        as_of=event.at,
        status=p.get("status", "completed"),
        proposals=p.get("proposals", 0),
        orders=p.get("orders", 0),
        tokens=p.get("tokens", 0),
        cost_usd=p.get("cost_usd", 0.0),
        seconds=p.get("duration_seconds", 0.0),
    )


class AlertPusher:
    """Subscribes to the bus and sends alerts through `bot` to every allowed chat."""

    def __init__(
        self,
        bot: ExtBot[None],
        bot_data: BotData,
        chat_ids: list[int],
        levels: dict[str, Level],
    ) -> None:
        self.bot = bot
        self.bot_data = bot_data
        self.chat_ids = chat_ids
        self.levels = levels

    def subscribe(self, bus: Any) -> None:
        bus.subscribe(SUBSCRIBED, self.on_event)

    async def on_event(self, event: Event) -> None:
        """Turn one bus event into messages or edits; never raises into the bus."""
        try:
            if event.type == "approval.requested":
                await self._request(event)
            elif event.type in ("approval.resolved", "approval.expired"):
                await self._resolved(event)
            else:
                alert = alert_for(event)
                if alert is not None:
                    await self._broadcast(*alert)
        except Exception:
            log.exception("alert for %s (%s) failed", event.type, event.id)

    async def _broadcast(self, kind: str, reply: commands.Reply) -> list[tuple[int, int]]:
        level = self.levels.get(kind, "on")
        if level == "off":
            return []
        sent: list[tuple[int, int]] = []
        for chat_id in self.chat_ids:
            try:
                messages = await send_reply(self.bot, chat_id, reply, silent=level == "silent")
            except TelegramError:
                log.warning("alert %s not delivered to chat %s", kind, chat_id, exc_info=True)
                continue
            sent.extend((chat_id, m.message_id) for m in messages[-1:])
        return sent

    async def _request(self, event: Event) -> None:
        approval = await self._approval(event)
        if approval is None:
            return
        text = fmt.format_approval(approval)
        reply = commands.Reply(text, buttons=(commands.approval_buttons(approval.id),))
        for chat_id, message_id in await self._broadcast("approval.requested", reply):
            self.bot_data.approvals.remember(approval.id, chat_id, message_id, text)

    async def _resolved(self, event: Event) -> None:
        approval_id, status, detail = resolution_of(event)
        text = self.bot_data.approvals.text(approval_id)
        for chat_id, message_id in self.bot_data.approvals.take(approval_id).items():
            new_text = f"{text}\n\n{fmt.format_approval_status(status, detail)}"
            try:
                await self.bot.edit_message_text(
                    new_text, chat_id=chat_id, message_id=message_id, reply_markup=None
                )
            except TelegramError:
                log.info("approval %s message in chat %s not edited", approval_id, chat_id)

    async def _approval(self, event: Event) -> ApprovalView | None:
        return await approval_of(event, self.bot_data.service)


def resolution_of(event: Event) -> tuple[str, str, str]:
    """(approval id, final status, why) of an `approval.resolved` or `approval.expired` event."""
    p = event.payload
    if p.get("approval"):
        view = ApprovalView.model_validate(p["approval"])
        approval_id, status = view.id, view.status
    else:
        approval_id = str(p.get("approval_id"))
        # After an approve the outcome (executed or failed) is what matters to the reader.
        status = (
            "expired"
            if event.type == "approval.expired"
            else str(p.get("outcome") or p.get("decision") or "")
        )
    detail = str(p.get("note") or p.get("message") or "")
    if status == "expired" and not detail:
        detail = "no answer before the deadline"
    return approval_id, status, detail


async def approval_of(event: Event, service: Orchestrator | None) -> ApprovalView | None:
    """The full proposal of an `approval.requested` event, or None (logged) when not found."""
    p = event.payload
    if p.get("approval"):
        return ApprovalView.model_validate(p["approval"])
    # The v1 payload names the approval only: find the full proposal among the pending ones.
    wanted = str(p.get("approval_id"))
    if service is not None:
        for approval in await service.pending_approvals():
            if approval.id == wanted:
                return approval
    log.warning("approval %s requested but not found among pending approvals", wanted)
    return None
