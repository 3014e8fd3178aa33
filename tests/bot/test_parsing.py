"""Arguments and button data: wrong input gets a usage line, never a service call."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bot import commands
from bot.callbacks import APPROVAL_PATTERN

BOT_DIR = Path(__file__).resolve().parents[2] / "bot"


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("/analyze AAPL", ("analyze", ["AAPL"])),
        ("/Analyze@fingpt_test_bot  aapl ", ("analyze", ["aapl"])),
        ("/pnl", ("pnl", [])),
        ("what about AAPL?", None),
    ],
)
def test_parse_command(text: str, parsed: tuple[str, list[str]] | None) -> None:
    assert commands.parse_command(text) == parsed


def test_tickers_are_normalised_and_typos_refused() -> None:
    assert commands.ticker_arg("chart", ["$brk.b"]) == "BRK.B"
    with pytest.raises(commands.UsageError, match="/chart AAPL"):
        commands.ticker_arg("chart", [])
    with pytest.raises(commands.UsageError, match="not a ticker"):
        commands.ticker_arg("chart", ["AAPL;DROP"])


def test_counts_are_bounded() -> None:
    assert commands.count_arg("pnl", [], 7, 3650, "days") == 7
    assert commands.count_arg("pnl", ["30"], 7, 3650, "days") == 30
    for bad in (["0"], ["-3"], ["99999"], ["x"], ["1", "2"]):
        with pytest.raises(commands.UsageError, match="from 1 to 3650"):
            commands.count_arg("pnl", bad, 7, 3650, "days")


def test_killswitch_needs_on_or_off() -> None:
    with pytest.raises(commands.UsageError, match="on or off"):
        # The service is never reached: the argument check comes first.
        import asyncio

        asyncio.run(commands.killswitch(None, ["maybe"], commands.User(1, 1)))  # type: ignore[arg-type]


def test_button_data_is_only_an_action_and_a_short_id() -> None:
    buttons = commands.approval_buttons("12")
    assert [b.data for b in buttons] == ["ap:12", "rj:12"]
    # Telegram limits callback data to 64 bytes; ours stays far below.
    assert all(len(b.data.encode()) <= 64 for b in buttons)
    assert APPROVAL_PATTERN.match("ap:12").groups() == ("ap", "12")  # type: ignore[union-attr]
    for forged in ("ap:12;rj:13", "xx:12", "ap:", "ap:" + "9" * 41, "ap:1 2"):
        assert APPROVAL_PATTERN.match(forged) is None


def test_every_acting_command_is_admin_only() -> None:
    acting = {"cycle", "approve", "reject", "pause", "resume", "killswitch", "settings"}
    assert {c.name for c in commands.COMMANDS.values() if c.admin} == acting


def test_bot_calls_only_the_service() -> None:
    """`bot/` never reaches storage or a broker directly (one facade, many faces)."""
    forbidden = ("orchestrator.store", "sqlmodel", "sqlalchemy", "orchestrator.trading")
    for path in BOT_DIR.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith(forbidden), f"{path.name} imports {name}"
