"""The command table shared by the Telegram bot and the console chat.

Each command is `async (service, args, user) -> Reply`: parse the arguments (a `UsageError`
with a clear usage line when they are wrong), make one service call, format it. Faces decide
who may run a command (`Command.admin`), send the reply, and map errors; nothing here knows
about Telegram or the terminal.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot import format as fmt
from orchestrator.errors import PermissionDenied, UserFacingError

if TYPE_CHECKING:
    from orchestrator.service.facade import Orchestrator


class UsageError(UserFacingError):
    """The arguments of a command are missing or malformed; the text shows the right usage."""


@dataclass(frozen=True)
class Button:
    label: str
    data: str  # callback data: only a short action and an id, e.g. "ap:12"


@dataclass(frozen=True)
class Reply:
    """What a command answers: HTML text, optionally a PNG and rows of inline buttons."""

    text_html: str
    photo_png: bytes | None = None
    buttons: tuple[tuple[Button, ...], ...] | None = None


@dataclass(frozen=True)
class User:
    """Who is asking, as far as the service needs to know."""

    chat_id: int
    user_id: int | str | None  # a Telegram user id; "console" for the terminal
    name: str = ""


CommandFunc = Callable[["Orchestrator", Sequence[str], User], Awaitable[Reply]]


@dataclass(frozen=True)
class Command:
    name: str
    func: CommandFunc
    description: str
    usage: str = ""
    admin: bool = False  # approving, running cycles, pausing, kill switch, settings


# A ticker as exchanges write them (BRK.B, RDS-A); anything else is a typo, not a lookup.
_TICKER = re.compile(r"^[A-Z][A-Z0-9.\-]{0,9}$")
# Upper bounds that keep a single reply readable and a single query cheap.
MAX_PNL_DAYS = 3650
MAX_LIST = 50
CHART_DAYS = 120


def approval_buttons(approval_id: str, name: str = "") -> tuple[Button, ...]:
    """Approve / Reject for one approval; `name` labels them when a message lists several."""
    suffix = f" {name}" if name else ""
    return (
        Button(f"✅ Approve{suffix}", f"ap:{approval_id}"),
        Button(f"❌ Reject{suffix}", f"rj:{approval_id}"),
    )


def ticker_arg(name: str, args: Sequence[str]) -> str:
    if len(args) != 1:
        raise UsageError(f"/{name} needs a ticker: /{name} AAPL")
    ticker = args[0].upper().lstrip("$")
    if not _TICKER.match(ticker):
        raise UsageError(f"{args[0]!r} is not a ticker. Try /{name} AAPL")
    return ticker


def count_arg(name: str, args: Sequence[str], default: int, maximum: int, unit: str) -> int:
    if not args:
        return default
    if len(args) > 1 or not args[0].isdigit() or not 1 <= int(args[0]) <= maximum:
        raise UsageError(
            f"/{name} takes a number of {unit} from 1 to {maximum}, e.g. /{name} {default}"
        )
    return int(args[0])


def id_arg(name: str, args: Sequence[str]) -> str:
    if len(args) != 1 or not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", args[0]):
        raise UsageError(f"/{name} needs an approval id: /{name} 12 (see /pending)")
    return args[0]


def actor(user: User) -> int | str:
    """Who acts, for the record. Faces let only known admins act, so an anonymous actor here
    is a bug in a face; it is refused rather than recorded as nobody."""
    if user.user_id is None:
        raise PermissionDenied("Only a known user can do that.")
    return user.user_id


def no_args(name: str, args: Sequence[str]) -> None:
    if args:
        raise UsageError(f"/{name} takes no arguments")


# --- the commands ----------------------------------------------------------------------------


async def start(service: Orchestrator, args: Sequence[str], user: User) -> Reply:
    greeting = f"Hello {user.name}! " if user.name else "Hello! "
    intro = (
        f"<b>{greeting}I am your FinGPT trading assistant.</b>\n"
        "I watch the market, propose trades, and ask before I act.\n\n"
    )
    return Reply(intro + fmt.format_help(help_rows()))


async def help_(service: Orchestrator, args: Sequence[str], user: User) -> Reply:
    return Reply(fmt.format_help(help_rows()))


async def status(service: Orchestrator, args: Sequence[str], user: User) -> Reply:
    no_args("status", args)
    return Reply(fmt.format_status(await service.status()))


async def portfolio(service: Orchestrator, args: Sequence[str], user: User) -> Reply:
    no_args("portfolio", args)
    return Reply(fmt.format_portfolio(await service.portfolio()))


async def positions(service: Orchestrator, args: Sequence[str], user: User) -> Reply:
    no_args("positions", args)
    return Reply(fmt.format_positions(await service.portfolio()))


async def orders(service: Orchestrator, args: Sequence[str], user: User) -> Reply:
    limit = count_arg("orders", args, 20, MAX_LIST, "orders")
    return Reply(fmt.format_orders(await service.orders(limit=limit)))


async def pnl(service: Orchestrator, args: Sequence[str], user: User) -> Reply:
    days = count_arg("pnl", args, 7, MAX_PNL_DAYS, "days")
    return Reply(fmt.format_pnl(await service.pnl(days=days)))


async def performance(service: Orchestrator, args: Sequence[str], user: User) -> Reply:
    no_args("performance", args)
    return Reply(fmt.format_performance(await service.performance()))


async def analyze(service: Orchestrator, args: Sequence[str], user: User) -> Reply:
    return Reply(fmt.format_analysis(await service.analyze(ticker_arg("analyze", args))))


async def forecast(service: Orchestrator, args: Sequence[str], user: User) -> Reply:
    return Reply(fmt.format_forecast(await service.forecast(ticker_arg("forecast", args))))


async def news(service: Orchestrator, args: Sequence[str], user: User) -> Reply:
    symbol = ticker_arg("news", args)
    return Reply(fmt.format_news(symbol, await service.news(symbol, limit=10)))


async def chart(service: Orchestrator, args: Sequence[str], user: User) -> Reply:
    from bot.charts import render_chart  # matplotlib loads only when a chart is asked for

    data = await service.chart_data(ticker_arg("chart", args), days=CHART_DAYS)
    # Rendering is CPU-bound for ~100 ms; keep the event loop serving other chats meanwhile.
    png = await asyncio.to_thread(render_chart, data)
    return Reply(fmt.format_chart_caption(data.symbol, len(data.dates)), photo_png=png)


async def cycle(service: Orchestrator, args: Sequence[str], user: User) -> Reply:
    no_args("cycle", args)
    return Reply(fmt.format_cycle(await service.run_cycle_now(requested_by=str(actor(user)))))


async def pending(service: Orchestrator, args: Sequence[str], user: User) -> Reply:
    no_args("pending", args)
    items = await service.pending_approvals()
    buttons = tuple(approval_buttons(a.id, f"#{a.id} {a.symbol}") for a in items[:MAX_LIST]) or None
    return Reply(fmt.format_pending(items), buttons=buttons)


async def approve(service: Orchestrator, args: Sequence[str], user: User) -> Reply:
    outcome = await service.approve(id_arg("approve", args), actor(user))
    return Reply(fmt.format_approval_outcome(outcome, by=user.name))


async def reject(service: Orchestrator, args: Sequence[str], user: User) -> Reply:
    outcome = await service.reject(id_arg("reject", args), actor(user))
    return Reply(fmt.format_approval_outcome(outcome, by=user.name))


async def pause(service: Orchestrator, args: Sequence[str], user: User) -> Reply:
    no_args("pause", args)
    await service.pause(actor(user))
    return Reply(
        "⏸ Paused: cycles still analyse, but no order is sent and no approval executes "
        "until /resume."
    )


async def resume(service: Orchestrator, args: Sequence[str], user: User) -> Reply:
    no_args("resume", args)
    await service.resume(actor(user))
    return Reply("▶️ Resumed: orders are sent again.")


async def killswitch(service: Orchestrator, args: Sequence[str], user: User) -> Reply:
    if len(args) != 1 or args[0].lower() not in ("on", "off"):
        raise UsageError("/killswitch needs on or off: /killswitch on")
    on = args[0].lower() == "on"
    await service.set_kill_switch(on, actor(user))
    if on:
        return Reply("⛔ Kill switch ON: all trading is halted until /killswitch off.")
    return Reply("✅ Kill switch off: trading may resume.")


async def risk(service: Orchestrator, args: Sequence[str], user: User) -> Reply:
    no_args("risk", args)
    return Reply(fmt.format_risk(await service.risk_view()))


async def settings(service: Orchestrator, args: Sequence[str], user: User) -> Reply:
    no_args("settings", args)
    return Reply(fmt.format_settings(service.settings_view()))


async def cost(service: Orchestrator, args: Sequence[str], user: User) -> Reply:
    no_args("cost", args)
    return Reply(fmt.format_cost(await service.cost()))


async def history(service: Orchestrator, args: Sequence[str], user: User) -> Reply:
    n = count_arg("history", args, 10, MAX_LIST, "cycles")
    return Reply(fmt.format_history(await service.history(n=n)))


async def lessons(service: Orchestrator, args: Sequence[str], user: User) -> Reply:
    n = count_arg("lessons", args, 10, MAX_LIST, "lessons")
    return Reply(fmt.format_lessons(await service.lessons(n=n)))


async def weights(service: Orchestrator, args: Sequence[str], user: User) -> Reply:
    n = count_arg("weights", args, 5, MAX_LIST, "changes")
    return Reply(fmt.format_weights(await service.weights(n=n)))


async def ask(service: Orchestrator, text: str, user: User) -> Reply:
    """Free text: the agent answers with this chat's memory."""
    return Reply(
        fmt.format_answer(
            await service.ask(user.chat_id, text, "" if user.user_id is None else user.user_id)
        )
    )


COMMANDS: dict[str, Command] = {
    c.name: c
    for c in (
        Command("start", start, "Welcome and the list of commands"),
        Command("help", help_, "The list of commands"),
        Command("status", status, "Mode, broker, kill switch, last and next cycle"),
        Command("portfolio", portfolio, "Equity, cash, exposure and positions"),
        Command("positions", positions, "Open positions"),
        Command("orders", orders, "Recent orders", "[n]"),
        Command("pnl", pnl, "Profit and loss over recent days", "[days]"),
        Command("performance", performance, "Returns, drawdown, hit rate"),
        Command("analyze", analyze, "Signals, forecast, sentiment, evidence", "TICKER"),
        Command("forecast", forecast, "Probability of a rise and expected return", "TICKER"),
        Command("news", news, "Latest headlines", "TICKER"),
        Command("chart", chart, "Price, volume, forecast band and our trades", "TICKER"),
        Command("cycle", cycle, "Run a trading cycle now", admin=True),
        Command("pending", pending, "Trades waiting for approval"),
        Command("approve", approve, "Approve a proposed trade", "ID", admin=True),
        Command("reject", reject, "Reject a proposed trade", "ID", admin=True),
        Command("pause", pause, "Stop sending orders (cycles still analyse)", admin=True),
        Command("resume", resume, "Send orders again", admin=True),
        Command("killswitch", killswitch, "Halt or allow all trading", "on|off", admin=True),
        Command("risk", risk, "Risk limits and today's loss"),
        Command("settings", settings, "Effective settings (secrets hidden)", admin=True),
        Command("cost", cost, "LLM tokens and dollars today and per cycle"),
        Command("history", history, "Recent cycles", "[n]"),
        Command("lessons", lessons, "Lessons learned from past decisions", "[n]"),
        Command("weights", weights, "Signal weights and why they changed", "[n]"),
    )
}


def help_rows() -> list[tuple[str, str, str, bool]]:
    return [(c.name, c.usage, c.description, c.admin) for c in COMMANDS.values()]


def parse_command(text: str) -> tuple[str, list[str]] | None:
    """`("analyze", ["AAPL"])` for "/analyze AAPL" (or "/analyze@bot AAPL"); None for free text."""
    if not text.startswith("/"):
        return None
    head, *args = text.split()
    return head[1:].split("@", 1)[0].lower(), args
