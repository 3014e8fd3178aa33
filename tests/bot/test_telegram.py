"""The bot end to end: the real python-telegram-bot against the fake Bot API, the real service.

Each test sends what a person would send and checks what the person would see.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from datetime import timedelta

import httpx
import pytest

from bot import commands
from bot.auth import ADMINS_ONLY, PRIVATE
from bot.format import MESSAGE_LIMIT
from bot.handlers import FAILED
from orchestrator.config import Settings
from orchestrator.service.facade import Orchestrator
from orchestrator.service.trading import expire_due
from tests.bot.conftest import ADMIN, MEMBER, STRANGER, TOKEN, RunningBot, text_of
from tests.fakes.openai_server import (  # noqa: F401
    FakeOpenAI,
    close_openai_clients,
    fake_openai,
    fake_openai_factory,
)
from tests.fakes.telegram_server import Call, FakeTelegramServer


async def test_start_greets_and_the_command_menu_is_filled(
    running_bot: RunningBot, telegram: FakeTelegramServer
) -> None:
    (menu,) = telegram.calls_of("setMyCommands")
    names = [c["command"] for c in menu.params["commands"]]
    assert names == list(commands.COMMANDS)
    assert all(c["description"] for c in menu.params["commands"])

    (reply,) = await running_bot.say(ADMIN, "/start")
    assert "Hello user100!" in text_of(reply)
    assert "/analyze TICKER" in text_of(reply) and "/killswitch on|off — " in text_of(reply)
    assert reply.params["parse_mode"] == "HTML"


async def test_one_command_of_each_group(running_bot: RunningBot) -> None:
    """Account, research, approvals, risk, cost and history, each answered from the service."""
    expectations = {
        "/status": ["Mode: <b>demo</b> (paper), broker <b>sim</b>", "Trading: ▶️ running"],
        "/portfolio": ["Equity $", "No open positions."],
        "/pnl 5": ["P&amp;L over 5 days"],
        "/forecast aapl": ["Forecast AAPL", "P(up)"],
        "/news AAPL": ["AAPL"],
        "/pending": ["Nothing is waiting for approval."],
        "/risk": ["Kill switch off; trading on"],
        "/cost": ["LLM cost today", "0 tokens"],
        "/history": ["No cycles have run yet."],
        "/lessons": ["No lessons recorded yet."],
    }
    for text, wanted in expectations.items():
        (reply,) = await running_bot.say(MEMBER, text)
        for piece in wanted:
            assert piece in text_of(reply), (text, text_of(reply))


async def test_analyze_shows_signals_forecast_and_sentiment(running_bot: RunningBot) -> None:
    (reply,) = await running_bot.say(MEMBER, "/analyze AAPL")
    text = text_of(reply)
    assert text.startswith("<b>AAPL at $")
    assert "Signals: " in text and "Signals: none" not in text
    assert "Forecast: P(up)" in text


async def test_a_usage_mistake_gets_the_usage_and_changes_nothing(
    running_bot: RunningBot, service: Orchestrator
) -> None:
    (reply,) = await running_bot.say(ADMIN, "/killswitch maybe")
    assert text_of(reply) == "/killswitch needs on or off: /killswitch on"
    assert (await service.status()).kill_switch is False
    (reply,) = await running_bot.say(ADMIN, "/frobnicate")
    assert text_of(reply) == "There is no /frobnicate command. See /help."


async def test_an_admin_controls_trading_and_every_chat_hears_of_it(
    running_bot: RunningBot, service: Orchestrator
) -> None:
    await running_bot.say(ADMIN, "/killswitch on", expect="Kill switch ON: all trading is halted")
    assert (await service.status()).kill_switch is True
    # The member's chat is told too, by the kill-switch alert.
    await running_bot.wait_for_text(MEMBER, "Kill switch ON: all trading halted (set by 100)")
    (reply,) = await running_bot.say(ADMIN, "/status", expect="<b>Status</b>")
    assert "Trading: ⛔ kill switch ON" in text_of(reply)

    await running_bot.say(ADMIN, "/pause", expect="⏸ Paused")
    assert (await service.status()).paused is True
    await running_bot.say(ADMIN, "/killswitch off", expect="Kill switch off: trading may resume")
    await running_bot.say(ADMIN, "/resume", expect="▶️ Resumed")
    status = await service.status()
    assert status.kill_switch is False and status.paused is False


async def test_settings_hide_secrets(running_bot: RunningBot) -> None:
    (reply,) = await running_bot.say(ADMIN, "/settings")
    assert "TELEGRAM_BOT_TOKEN" in text_of(reply).upper()
    assert TOKEN not in text_of(reply)


async def test_a_chart_is_delivered_as_a_photo(
    running_bot: RunningBot, telegram: FakeTelegramServer
) -> None:
    (reply,) = await running_bot.say(MEMBER, "/chart AAPL")
    assert reply.method == "sendPhoto"
    assert "<b>AAPL</b>" in reply.params["caption"]
    (png,) = reply.files.values()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000


async def test_a_stranger_is_refused_once_and_told_nothing_else(
    running_bot: RunningBot, telegram: FakeTelegramServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.auth")
    (reply,) = await running_bot.say(STRANGER, "/portfolio")
    assert text_of(reply) == PRIVATE
    # Further attempts are logged but not answered: the bot cannot be used to flood anyone.
    telegram.send_text(STRANGER, "/status")
    telegram.send_text(STRANGER, "what do you hold?")
    for _ in range(1000):
        refusals = [r for r in caplog.records if "chat not allowed" in r.getMessage()]
        if len(refusals) == 3:
            break
        await asyncio.sleep(0.01)
    assert len(refusals) == 3 and all("chat_id=300" in r.getMessage() for r in refusals)
    await running_bot.say(STRANGER - 1, "/help")  # another stranger is refused too, once
    await asyncio.sleep(0.2)  # room for a wrong extra reply to arrive
    assert len(running_bot.sent_to(STRANGER)) == 1
    assert not telegram.calls_of("sendChatAction", chat_id=STRANGER)

    # A forged button press from the stranger's chat gets the same short refusal, as a toast.
    query = telegram.press_button(
        STRANGER, telegram.message_id_of(reply), "ap:K7Q2MX", user_id=STRANGER
    )
    (answer,) = await telegram.wait_for("answerCallbackQuery", callback_query_id=query)
    assert answer.params["text"] == PRIVATE
    assert len(running_bot.sent_to(STRANGER)) == 1 and not telegram.calls_of("editMessageText")


async def test_a_member_may_read_but_not_act(
    running_bot: RunningBot, service: Orchestrator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.auth")
    for text in ("/killswitch on", "/cycle", "/pause", "/approve 1", "/settings"):
        (reply,) = await running_bot.say(MEMBER, text)
        assert text_of(reply) == ADMINS_ONLY
    assert (await service.status()).kill_switch is False
    assert await service.history() == []
    assert sum("not an admin" in r.getMessage() for r in caplog.records) == 5


@pytest.mark.parametrize("http_client", ["aiohttp", "httpx"])
async def test_the_token_never_reaches_the_log(
    running_bot: RunningBot, caplog: pytest.LogCaptureFixture, http_client: str
) -> None:
    # As if someone turned every log on, httpx's request log (one line per call) included.
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="httpx")
    await running_bot.say(MEMBER, "/help")
    if http_client == "httpx":
        # httpx logs a request once its response is read, just after the server saw it.
        for _ in range(500):
            requests = [r.getMessage() for r in caplog.records if r.name == "httpx"]
            if any("/bot<bot-token>/sendMessage" in line for line in requests):
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError(f"no redacted sendMessage line in {requests}")
    assert not any(TOKEN in r.getMessage() for r in caplog.records)


async def test_an_internal_failure_is_logged_and_the_user_told_briefly(
    running_bot: RunningBot,
    service: Orchestrator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken() -> None:
        raise RuntimeError(f"db password=hunter2 token={TOKEN}")

    monkeypatch.setattr(service, "portfolio", broken)
    caplog.set_level(logging.ERROR, logger="bot.handlers")
    (reply,) = await running_bot.say(MEMBER, "/portfolio")
    assert text_of(reply) == FAILED
    (record,) = [r for r in caplog.records if r.getMessage().startswith("update failed")]
    assert "chat_id=200" in record.getMessage() and "'/portfolio'" in record.getMessage()
    assert record.exc_info is not None  # the stack trace goes to the log, not the chat


async def test_free_text_without_an_llm_is_answered_by_the_offline_engine(
    running_bot: RunningBot, telegram: FakeTelegramServer
) -> None:
    (reply,) = await running_bot.say(MEMBER, "How is AAPL doing?")
    assert "offline rules engine" in text_of(reply)
    assert telegram.calls_of("sendChatAction", chat_id=MEMBER, action="typing")


async def test_free_text_goes_to_the_agent_with_this_chats_memory(
    fake_openai: FakeOpenAI,  # noqa: F811 - first, so the service sees its URL and key
    running_bot: RunningBot,
    telegram: FakeTelegramServer,
) -> None:
    fake_openai.reply_text("AAPL is up 2% this week on strong iPhone sales.")
    fake_openai.reply_text("Its 20-day momentum is positive.")
    (first,) = await running_bot.say(MEMBER, "How is AAPL doing?")
    assert "AAPL is up 2% this week" in text_of(first)
    assert "offline rules engine" not in text_of(first)
    (second,) = await running_bot.say(MEMBER, "And its momentum?")
    assert "momentum is positive" in text_of(second)
    # The second question reached the model with the first exchange of this chat before it.
    asked = fake_openai.chat_requests()[-1].body["messages"]
    contents = " ".join(str(m.get("content") or "") for m in asked)
    assert "How is AAPL doing?" in contents and "AAPL is up 2% this week" in contents
    assert telegram.calls_of("sendChatAction", chat_id=MEMBER, action="typing")

    # Another chat starts with no memory of this one.
    fake_openai.reply_text("Hello.")
    await running_bot.say(ADMIN, "Hi")
    asked = fake_openai.chat_requests()[-1].body["messages"]
    assert "How is AAPL doing?" not in " ".join(str(m.get("content") or "") for m in asked)


async def test_a_6000_character_answer_is_split_within_telegrams_limit(
    fake_openai: FakeOpenAI,  # noqa: F811
    running_bot: RunningBot,
) -> None:
    paragraph = "The outlook for AAPL depends on services growth & margins. " * 5 + "\n\n"
    answer = (paragraph * 25)[:6000]
    fake_openai.reply_text(answer)
    replies = await running_bot.say(MEMBER, "Write me a long report on AAPL", replies=2)
    await asyncio.sleep(0.2)  # nothing more should follow than the parts of this answer
    parts = running_bot.sent_to(MEMBER)
    assert len(parts) == 2 == len(replies)
    assert all(len(text_of(p).encode("utf-16-le")) // 2 <= MESSAGE_LIMIT for p in parts)
    joined = " ".join(text_of(p) for p in parts).replace("&amp;", "&")
    assert joined.split()[: len(answer.split())] == answer.split()


async def test_webhook_mode_registers_the_hook_and_answers_posted_updates(
    bot_settings: Settings, service: Orchestrator, telegram: FakeTelegramServer
) -> None:
    from bot.app import build_application, serve

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/telegram/hook"
    settings = bot_settings.model_copy(
        update={"telegram_webhook_url": url, "telegram_webhook_port": port}
    )
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve(build_application(service, settings, max_messages_per_second=0), settings, stop)
    )
    try:
        (hook,) = await telegram.wait_for("setWebhook", timeout=30)
        assert hook.params["url"] == url
        secret = hook.params["secret_token"]
        assert secret and TOKEN not in secret
        async with httpx.AsyncClient() as client:
            # The hook is registered while its server is still starting; Telegram retries too.
            for _ in range(100):
                try:
                    await client.get(url)
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.05)
            forged = await client.post(
                url,
                json={"update_id": 1, **telegram.text_update(MEMBER, "/help")},
                headers={"X-Telegram-Bot-Api-Secret-Token": "guess"},
            )
            assert forged.status_code == 403
            posted = await client.post(
                url,
                json={"update_id": 2, **telegram.text_update(MEMBER, "/risk")},
                headers={"X-Telegram-Bot-Api-Secret-Token": secret},
            )
            assert posted.status_code == 200
        (reply,) = await telegram.wait_for("sendMessage", chat_id=MEMBER, timeout=30)
        assert "Kill switch off" in text_of(reply)
        assert not telegram.calls_of("getUpdates")  # no polling beside the webhook
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


# --- confirmations -----------------------------------------------------------------------------


def buttons_of(call: Call) -> list[str]:
    markup = call.params.get("reply_markup") or {}
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]


async def proposals_from_a_cycle(
    running_bot: RunningBot, service: Orchestrator
) -> dict[str, dict[int, Call]]:
    """Run /cycle as the admin; returns approval id -> chat -> the proposal message."""
    await running_bot.say(ADMIN, "/cycle", expect="Cycle #")
    pending = {a.id for a in await service.pending_approvals()}
    assert pending, "the offline cycle proposed nothing to approve"
    proposals: dict[str, dict[int, Call]] = {}
    for chat in (ADMIN, MEMBER):
        for approval_id in pending:
            call = await running_bot.wait_for_text(chat, f"Trade proposal #{approval_id}")
            assert buttons_of(call) == [f"ap:{approval_id}", f"rj:{approval_id}"]
            proposals.setdefault(approval_id, {})[chat] = call
    return proposals


async def test_a_proposal_approved_with_its_button_is_sent_filled_and_announced(
    running_bot: RunningBot, service: Orchestrator, telegram: FakeTelegramServer
) -> None:
    proposals = await proposals_from_a_cycle(running_bot, service)
    approval_id, messages = next(iter(proposals.items()))
    pending = {a.id: a for a in await service.pending_approvals()}
    proposal = pending[approval_id]
    shown = text_of(messages[ADMIN])
    for expected in (
        f"Trade proposal #{approval_id}",
        f"BUY {proposal.quantity:,.0f} <b>{proposal.symbol}</b>",
        f"@ ${proposal.price:,.2f}",
        f"Confidence {proposal.confidence:.0%}",
        "risk verdict <b>approved</b>",
        "Combined score",  # the rationale
    ):
        assert expected in shown

    # A member's press is refused with a toast, and the proposal stays pending.
    query = telegram.press_button(
        MEMBER, telegram.message_id_of(messages[MEMBER]), f"ap:{approval_id}", user_id=MEMBER
    )
    (answer,) = await telegram.wait_for("answerCallbackQuery", callback_query_id=query)
    assert answer.params["text"] == ADMINS_ONLY
    assert approval_id in {a.id for a in await service.pending_approvals()}

    # The admin's press is answered at once and the message shows the outcome, buttons gone.
    admin_message = telegram.message_id_of(messages[ADMIN])
    query = telegram.press_button(ADMIN, admin_message, f"ap:{approval_id}", user_id=ADMIN)
    (answer,) = await telegram.wait_for("answerCallbackQuery", callback_query_id=query)
    edited = await running_bot.wait_for_text(ADMIN, "Executed", edited=True)
    assert edited.params["message_id"] == admin_message
    assert f"Trade proposal #{approval_id}" in text_of(edited) and "by user100" in text_of(edited)
    assert "inline_keyboard" not in str(telegram.messages[(ADMIN, admin_message)])
    # ...and the same proposal in the member's chat is edited too, so no live button remains.
    other = await running_bot.wait_for_text(MEMBER, "Executed", edited=True)
    assert other.params["message_id"] == telegram.message_id_of(messages[MEMBER])
    await running_bot.wait_for_text(MEMBER, f"Order submitted: BUY {proposal.quantity:,.0f}")

    # The next session opens: the simulated broker fills the order and every chat hears of it.
    clock = service.runtime.clock
    clock.advance_to(clock.now() + timedelta(days=1))  # type: ignore[attr-defined]
    await service.runtime.broker.sync()
    for chat in (ADMIN, MEMBER):
        fill = await running_bot.wait_for_text(chat, "Order filled")
        assert f"<b>{proposal.symbol}</b>" in text_of(fill) and ": filled" in text_of(fill)
    assert proposal.symbol in {p.symbol for p in (await service.portfolio()).positions}

    # Pressing again (a stale copy of the button) cannot send a second order.
    telegram.press_button(ADMIN, admin_message, f"ap:{approval_id}", user_id=ADMIN)
    stale = await running_bot.wait_for_text(ADMIN, "is already executed", edited=True)
    assert text_of(stale).startswith(f"<b>Trade proposal #{approval_id}</b>")
    orders = [o for o in await service.orders() if o.symbol == proposal.symbol]
    assert len(orders) == 1


async def test_reject_and_expiry_edit_the_proposals(
    running_bot: RunningBot, service: Orchestrator, telegram: FakeTelegramServer
) -> None:
    proposals = await proposals_from_a_cycle(running_bot, service)
    (rejected, messages), (paused, paused_messages), *rest = proposals.items()
    query = telegram.press_button(
        ADMIN, telegram.message_id_of(messages[ADMIN]), f"rj:{rejected}", user_id=ADMIN
    )
    await telegram.wait_for("answerCallbackQuery", callback_query_id=query)
    edit = await running_bot.wait_for_text(ADMIN, "Rejected", edited=True)
    assert f"#{rejected}" in text_of(edit)
    await running_bot.wait_for_text(MEMBER, "Rejected", edited=True)
    assert rejected not in {a.id for a in await service.pending_approvals()}
    assert not await service.orders()

    # While trading is paused an Approve is refused and its buttons stay for later.
    await running_bot.say(ADMIN, "/pause", expect="Paused")
    mid = telegram.message_id_of(paused_messages[ADMIN])
    telegram.press_button(ADMIN, mid, f"ap:{paused}", user_id=ADMIN)
    await running_bot.wait_for_text(ADMIN, f"Trading is paused; resume it to approve {paused}")
    assert telegram.messages[(ADMIN, mid)].get("reply_markup")
    await running_bot.say(ADMIN, "/resume", expect="Resumed")

    # /pending lists what waits, each with labelled buttons; rejecting one from the list
    # removes only its row there, and its own proposal messages are edited too.
    (listing,) = await running_bot.say(ADMIN, "/pending", expect="Trade proposal #")
    labels = [b["text"] for row in listing.params["reply_markup"]["inline_keyboard"] for b in row]
    assert f"❌ Reject #{paused} " in " ".join(labels)
    assert len(labels) == 2 * (len(rest) + 1)
    telegram.press_button(ADMIN, telegram.message_id_of(listing), f"rj:{paused}", user_id=ADMIN)
    (kept,) = await telegram.wait_for("editMessageReplyMarkup", chat_id=ADMIN)
    assert f"rj:{paused}" not in str(kept.params) and len(buttons_of(kept)) == 2 * len(rest)
    await running_bot.wait_for_text(ADMIN, "Rejected", edited=False)
    for chat, call in paused_messages.items():
        await telegram.wait_for(
            "editMessageText", chat_id=chat, message_id=telegram.message_id_of(call)
        )

    # Nobody answers the others before their deadline: each message says so, buttons removed.
    clock = service.runtime.clock
    clock.advance_to(max(a.expires_at for a in await service.pending_approvals()))  # type: ignore[attr-defined]
    expired = await expire_due(service.runtime)
    assert {a.id for a in expired} == {approval_id for approval_id, _ in rest}
    for approval_id, chats in rest:
        for chat, call in chats.items():
            mid = telegram.message_id_of(call)
            await telegram.wait_for("editMessageText", chat_id=chat, message_id=mid)
            message = telegram.messages[(chat, mid)]
            assert f"#{approval_id}" in message["text"] and "Expired" in message["text"]
            assert "reply_markup" not in message
    assert not await service.pending_approvals()
