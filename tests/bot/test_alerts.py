"""Push alerts: real bus events become messages in every allowed chat, as loud as configured."""

from __future__ import annotations

from datetime import date

import pytest
from telegram.ext import ExtBot

from bot.alerts import DEFAULT_LEVELS, AlertPusher, parse_alert_levels
from bot.context import BotData
from orchestrator.errors import ConfigError
from orchestrator.event_payloads import (
    Alert,
    ApprovalResolved,
    CycleCompleted,
    CycleFailed,
    DailySummary,
    KillSwitchChanged,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    RiskVerdictEvent,
)
from orchestrator.events import InProcessBus, make_event
from tests.bot.conftest import ADMIN, MEMBER
from tests.fakes.telegram_server import FakeTelegramServer

CHATS = [ADMIN, MEMBER]


def fill(status: str = "filled") -> dict[str, object]:
    return dict(
        client_order_id="c-1",
        symbol="AAPL",
        side="buy",
        quantity=10,
        status=status,
        filled_quantity=10 if status == "filled" else 0,
        avg_fill_price=101.2 if status == "filled" else None,
    )


async def pushed(
    ext_bot: ExtBot[None], events: list, levels: str = ""
) -> tuple[InProcessBus, BotData]:
    bus = InProcessBus()
    data = BotData()
    AlertPusher(ext_bot, data, CHATS, parse_alert_levels(levels)).subscribe(bus)
    for event in events:
        await bus.publish(event)
    await bus.drain()
    return bus, data


async def test_a_fill_reaches_every_allowed_chat_with_a_notification(
    ext_bot: ExtBot[None], telegram: FakeTelegramServer
) -> None:
    await pushed(ext_bot, [make_event(OrderFilled(**fill()))])
    sent = telegram.calls_of("sendMessage")
    assert sorted(c.params["chat_id"] for c in sent) == CHATS
    for call in sent:
        assert "Order filled" in call.params["text"]
        assert "BUY 10 <b>AAPL</b>" in call.params["text"] and "$101.20" in call.params["text"]
        assert call.params["parse_mode"] == "HTML"
        assert not call.params.get("disable_notification")


async def test_levels_make_alerts_silent_or_switch_them_off(
    ext_bot: ExtBot[None], telegram: FakeTelegramServer
) -> None:
    events = [
        make_event(OrderSubmitted(**fill("submitted"))),  # silent by default
        make_event(OrderFilled(**fill())),  # switched off below
        make_event(OrderRejected(**{**fill("rejected"), "reason": "no buying power"})),
    ]
    await pushed(ext_bot, events, levels="order.filled=off, order.rejected=silent")
    texts = {
        c.params["text"]: c.params.get("disable_notification")
        for c in telegram.calls_of("sendMessage")
    }
    assert not any("Order filled" in t for t in texts)
    submitted = [t for t in texts if "Order submitted" in t]
    rejected = [t for t in texts if "Order rejected" in t]
    assert len(telegram.calls_of("sendMessage")) == 4  # two kinds x two chats
    assert submitted and all(texts[t] is True for t in submitted)
    assert rejected and all(texts[t] is True for t in rejected)
    assert "no buying power" in rejected[0]


async def test_each_kind_of_event_has_its_alert(
    ext_bot: ExtBot[None], telegram: FakeTelegramServer
) -> None:
    events = [
        make_event(
            RiskVerdictEvent(
                symbol="TSLA",
                side="buy",
                status="blocked",
                quantity=5,
                price=200,
                reasons=["TSLA is on the blocked list"],
            )
        ),
        make_event(
            RiskVerdictEvent(symbol="MSFT", side="buy", status="approved", quantity=1, price=1)
        ),
        make_event(KillSwitchChanged(active=True, reason="daily loss limit")),
        make_event(CycleCompleted(duration_seconds=2.5, proposals=3, orders=1), cycle_id=42),
        make_event(CycleFailed(error="data provider timed out", step="gather")),
        make_event(DailySummary(session=date(2026, 11, 24), equity=100_500, pnl=500, pnl_pct=0.5)),
        make_event(Alert(level="error", title="Broker unreachable", text="retrying")),
    ]
    await pushed(ext_bot, events)
    texts = telegram.texts_to(ADMIN)
    assert len(texts) == 6  # an approved verdict is not news
    joined = "\n".join(texts)
    assert "Risk blocked buy TSLA: TSLA is on the blocked list" in joined
    assert "Kill switch ON: all trading halted (daily loss limit)" in joined
    assert "Cycle #42" in joined and "3 proposals" in joined
    assert "Cycle failed in gather: data provider timed out" in joined
    assert "2026-11-24: equity $100,500.00, P&amp;L $500.00 (+0.50%)" in joined
    assert "Broker unreachable\nretrying" in joined


async def test_a_chat_that_blocked_the_bot_does_not_stop_the_others(
    ext_bot: ExtBot[None], telegram: FakeTelegramServer
) -> None:
    telegram.blocked_chats.add(ADMIN)
    await pushed(ext_bot, [make_event(OrderFilled(**fill()))])
    assert len(telegram.texts_to(MEMBER)) == 1


async def test_expiry_edits_the_proposal_and_removes_its_buttons(
    ext_bot: ExtBot[None], telegram: FakeTelegramServer
) -> None:
    bus = InProcessBus()
    data = BotData()
    AlertPusher(ext_bot, data, CHATS, dict(DEFAULT_LEVELS)).subscribe(bus)
    for chat in CHATS:
        message = await ext_bot.send_message(chat, "Trade proposal #5")
        data.approvals.remember("5", chat, message.message_id, "Trade proposal #5")
    await bus.publish(make_event(ApprovalResolved(approval_id=5, decision="expired")))
    await bus.drain()
    edits = telegram.calls_of("editMessageText")
    assert sorted(c.params["chat_id"] for c in edits) == CHATS
    for call in edits:
        assert call.params["text"].startswith("Trade proposal #5")
        assert "Expired" in call.params["text"] and "deadline" in call.params["text"]
    # A second resolution of the same approval edits nothing more.
    await bus.publish(make_event(ApprovalResolved(approval_id=5, decision="rejected")))
    await bus.drain()
    assert len(telegram.calls_of("editMessageText")) == 2


def test_alert_levels_are_validated() -> None:
    assert parse_alert_levels("")["cycle.summary"] == "silent"
    assert parse_alert_levels("cycle.summary=on")["cycle.summary"] == "on"
    with pytest.raises(ConfigError, match="unknown alert 'fills'"):
        parse_alert_levels("fills=on")
    with pytest.raises(ConfigError, match="on, silent or off"):
        parse_alert_levels("order.filled=loud")


def test_every_default_kind_is_documented_in_one_place() -> None:
    assert set(DEFAULT_LEVELS) == {
        "approval.requested",
        "order.submitted",
        "order.filled",
        "order.rejected",
        "risk.blocked",
        "killswitch",
        "cycle.summary",
        "daily.summary",
        "error",
    }
