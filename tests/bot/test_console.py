"""The console chat renders the bot's HTML for a terminal, with nothing lost or obeyed."""

from __future__ import annotations

from io import StringIO

from rich.console import Console

from orchestrator.cli.chat import html_to_rich


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
