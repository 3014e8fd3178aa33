"""The console chat renders the bot's HTML for a terminal, with nothing lost or obeyed."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

from rich.console import Console

from orchestrator.cli.chat import ConsoleChat, html_to_rich
from orchestrator.config import Settings
from orchestrator.service.facade import Orchestrator


def rendered(html: str) -> str:
    out = Console(file=StringIO(), width=200, color_system=None)
    out.print(html_to_rich(html), highlight=False)
    return out.file.getvalue()  # type: ignore[attr-defined]


def test_emphasis_becomes_styles_and_entities_are_decoded() -> None:
    assert html_to_rich("<b>P&amp;L</b> <i>x</i>") == "[bold]P&L[/bold] [italic]x[/italic]"
    assert rendered("<b>P&amp;L</b> &lt;b&gt;") == "P&L <b>\n"


def test_text_that_looks_like_rich_markup_is_shown_as_is() -> None:
    # A headline "[red]" must not colour the terminal, as "<b>" must not bold a chat.
    assert rendered("News: [red]alert[/red]") == "News: [red]alert[/red]\n"


def test_links_show_their_address() -> None:
    text = rendered('<a href="https://example.com/a">Apple beats</a> — Reuters')
    assert text == "Apple beats (https://example.com/a) — Reuters\n"


async def test_the_console_runs_the_same_commands_over_the_real_service(
    service: Orchestrator, tmp_path: Path
) -> None:
    out = Console(file=StringIO(), width=200, color_system=None)
    chat = ConsoleChat(service, out, tmp_path / "charts")
    lines = iter(
        [
            "/status",
            "/killswitch maybe",
            "/frobnicate",
            "/chart AAPL",
            "How is AAPL doing?",
            "/cycle",
            "/quit",
            "/status",  # never read: /quit ends the session
        ]
    )

    async def read() -> str | None:
        return next(lines, None)

    await chat.run(read)
    await service.bus.close()  # lets the cycle's alerts print
    text = out.file.getvalue()  # type: ignore[attr-defined]
    assert "Mode: demo (paper), broker sim" in text
    assert "/killswitch needs on or off: /killswitch on" in text
    assert "There is no /frobnicate command. See /help." in text
    (png,) = (tmp_path / "charts").glob("chart-*.png")
    assert png.read_bytes().startswith(b"\x89PNG")
    assert "offline rules engine" in text
    # The cycle's proposals are printed with what to type instead of buttons; the console
    # acts as an admin, so it could approve them.
    pending = await service.pending_approvals()
    assert pending
    for approval in pending:
        assert f"Trade proposal #{approval.id}" in text
        assert f"/approve {approval.id}  or  /reject {approval.id}" in text
    assert text.count("Mode: demo") == 1


async def test_the_console_approves_as_the_console_user(service: Orchestrator) -> None:
    out = Console(file=StringIO(), width=200, color_system=None)
    chat = ConsoleChat(service, out, Path("charts"))
    await chat.handle("/cycle")
    approval = (await service.pending_approvals())[0]
    await chat.handle(f"/approve {approval.id}")
    text = out.file.getvalue()  # type: ignore[attr-defined]
    assert f"Trade proposal #{approval.id}" in text and "Executed" in text
    (order,) = [o for o in await service.orders() if o.symbol == approval.symbol]
    assert order.quantity == approval.quantity


def test_fingpt_chat_runs_lines_without_a_telegram_token(bot_settings: Settings) -> None:
    from typer.testing import CliRunner

    from orchestrator.cli import app

    result = CliRunner().invoke(app, ["chat", "-c", "/risk", "-c", "/pending"])
    assert result.exit_code == 0, result.output
    assert "Kill switch off; trading on" in result.output
    assert "Nothing is waiting for approval." in result.output


async def test_weights_shows_the_defaults_and_each_change_with_its_reason(
    service: Orchestrator, tmp_path: Path
) -> None:
    from orchestrator.store.db import session_scope
    from orchestrator.store.weights import SignalWeightsRow, save_weights

    with session_scope(service.runtime.engine) as session:
        save_weights(
            session,
            SignalWeightsRow(
                created_at=service.now(),
                weights={"forecast": 0.3, "sentiment": 0.35, "momentum": 0.2, "llm_forecast": 0.15},
                reason="hit rates over the last 120 days: sentiment 70% of 40",
            ),
        )
    out = Console(file=StringIO(), width=200, color_system=None)
    chat = ConsoleChat(service, out, tmp_path / "charts")

    await chat.handle("/weights")

    text = out.file.getvalue()  # type: ignore[attr-defined]
    assert "defaults: forecast 0.40, sentiment 0.25" in text
    assert "forecast 0.30, sentiment 0.35" in text and "sentiment 70% of 40" in text
