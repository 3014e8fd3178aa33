"""`fingpt chat`: the bot's commands and free text in a terminal, with no Telegram token.

It runs the same command table (`bot.commands`) and the same formatting (`bot.format`) over
the same service as the Telegram face; only the last step differs: Telegram HTML is rendered
for the terminal, a chart is saved as a PNG file, and buttons become "/approve ID" hints.
Alerts from the event bus (approval requests, fills, risk blocks...) are printed as they come.

Whoever runs this process already holds the database and the settings, so the console acts
as an admin; its approvals are recorded as made by "console".
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape as rich_escape

from orchestrator.cli.app import app, console, run_async
from orchestrator.config import get_settings
from orchestrator.errors import UserFacingError
from orchestrator.events import Event

if TYPE_CHECKING:
    from bot.commands import Reply
    from orchestrator.service.facade import Orchestrator

log = logging.getLogger(__name__)

CONSOLE_CHAT_ID = 0  # the console's conversation memory, apart from every Telegram chat
CONSOLE_USER = "console"
QUIT = {"/quit", "/exit", "quit", "exit"}
FAILED = "Sorry, something failed while handling that. Details are in the log."

# Telegram HTML tag -> rich style; anything else is dropped and its text kept.
_STYLES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "s": "strike",
    "code": "cyan",
    "pre": "cyan",
    "a": "underline",
}


class _HtmlToRich(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _STYLES:
            self.out.append(f"[{_STYLES[tag]}]")
        if tag == "a":
            self.links.append(dict(attrs).get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in _STYLES:
            self.out.append(f"[/{_STYLES[tag]}]")
        if tag == "a" and self.links and self.links[-1]:
            self.out.append(rich_escape(f" ({self.links.pop()})"))

    def handle_data(self, data: str) -> None:
        self.out.append(rich_escape(data))


def html_to_rich(text: str) -> str:
    """Telegram HTML as rich console markup: same emphasis, entities decoded, links shown."""
    parser = _HtmlToRich()
    parser.feed(text)
    parser.close()
    return "".join(parser.out)


class ConsoleChat:
    """One terminal conversation with the service."""

    def __init__(self, service: Orchestrator, out: Console, chart_dir: Path) -> None:
        from bot.commands import User

        self.service = service
        self.out = out
        self.chart_dir = chart_dir
        self.user = User(chat_id=CONSOLE_CHAT_ID, user_id=CONSOLE_USER, name="")
        self._charts = 0

    def show(self, reply: Reply) -> None:
        if reply.photo_png is not None:
            self.chart_dir.mkdir(parents=True, exist_ok=True)
            self._charts += 1
            stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
            path = self.chart_dir / f"chart-{stamp}-{self._charts}.png"
            path.write_bytes(reply.photo_png)
            self.out.print(f"[dim]chart saved to {rich_escape(str(path))}[/dim]")
        if reply.text_html:
            self.out.print(html_to_rich(reply.text_html), highlight=False)
        for row in reply.buttons or ():
            hints = [
                f"/{'approve' if b.data.startswith('ap:') else 'reject'} {b.data[3:]}" for b in row
            ]
            self.out.print(f"[dim]→ {rich_escape('  or  '.join(hints))}[/dim]", highlight=False)

    async def handle(self, line: str) -> bool:
        """Answer one line; False when the person wants to leave."""
        from bot import commands

        line = line.strip()
        if not line:
            return True
        if line.lower() in QUIT:
            return False
        try:
            parsed = commands.parse_command(line)
            if parsed is None:
                with self.out.status("thinking…"):
                    reply = await commands.ask(self.service, line, self.user)
            else:
                name, args = parsed
                command = commands.COMMANDS.get(name)
                if command is None:
                    self.out.print(f"There is no /{rich_escape(name)} command. See /help.")
                    return True
                reply = await command.func(self.service, args, self.user)
        except UserFacingError as exc:
            self.out.print(f"[red]{rich_escape(str(exc))}[/red]", highlight=False)
            return True
        except Exception:
            log.exception("console chat failed on %r", line[:80])
            self.out.print(f"[red]{FAILED}[/red]")
            return True
        self.show(reply)
        return True

    async def on_event(self, event: Event) -> None:
        """Print what the Telegram bot would push (every kind that is not off)."""
        from bot import commands
        from bot import format as fmt
        from bot.alerts import alert_for, approval_of, resolution_of

        try:
            if event.type == "approval.requested":
                approval = await approval_of(event, self.service)
                if approval is not None:
                    self.show(
                        commands.Reply(
                            fmt.format_approval(approval),
                            buttons=(commands.approval_buttons(approval.id),),
                        )
                    )
                return
            if event.type in ("approval.resolved", "approval.expired"):
                approval_id, status, detail = resolution_of(event)
                line = fmt.format_approval_status(status, detail)
                self.show(commands.Reply(f"Trade proposal #{approval_id}: {line}"))
                return
            alert = alert_for(event)
            if alert is not None:
                self.show(alert[1])
        except Exception:
            log.exception("console alert for %s failed", event.type)

    async def run(self, read_line: Callable[[], Awaitable[str | None]]) -> None:
        """Read and answer lines until end of input or /quit."""
        from bot.alerts import SUBSCRIBED

        self.service.bus.subscribe(SUBSCRIBED, self.on_event)
        await self.service.bus.start()
        while (line := await read_line()) is not None:
            if not await self.handle(line):
                break


async def _read_stdin() -> str | None:
    console.print("[bold]you>[/bold] ", end="")
    line = await asyncio.to_thread(sys.stdin.readline)
    return line if line else None


async def _session(lines: list[str]) -> None:
    from orchestrator.service.facade import Orchestrator

    settings = get_settings()
    service = await Orchestrator.create(settings)
    try:
        chat = ConsoleChat(service, console, Path(settings.var_dir) / "charts")
        if lines:
            queue = iter(lines)

            async def next_line() -> str | None:
                return next(queue, None)

            await chat.run(next_line)
        else:
            console.print(
                f"FinGPT console chat ({service.mode}, {service.runtime.llm.label}). "
                "Commands as in Telegram (/help); anything else goes to the assistant; "
                "/quit to leave.",
                highlight=False,
            )
            await chat.run(_read_stdin)
    finally:
        # Closing the bus lets the alerts of the last command (a cycle's fills) print first.
        await service.close()


@app.command("chat")
def chat(
    command: Annotated[
        list[str] | None,
        typer.Option("--command", "-c", help="Run these lines (commands or questions) and exit"),
    ] = None,
) -> None:
    """Talk to the assistant in the terminal: the Telegram commands and free text, no token."""
    run_async(_session(list(command or [])))
