"""`fingpt data bars|news|universe`: look at market data through the configured provider."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from orchestrator.cli.app import app, console, err_console, run_async
from orchestrator.domain import EXCHANGE_TZ
from orchestrator.service import data as service

data_app = typer.Typer(help="Market data: bars, news and the universe.", no_args_is_help=True)
app.add_typer(data_app, name="data")

# Below this many tickers a progress bar only flickers.
_PROGRESS_FROM = 5

AS_OF_HELP = "Point in time (YYYY-MM-DD = end of that day, or an ISO time; New York if no offset)"


@contextmanager
def _progress(total: int, label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar on stderr for long fetches; nothing for a handful of tickers."""
    if total < _PROGRESS_FROM:
        yield None
        return
    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=total)
        yield lambda done, _total: progress.update(task, completed=done)


@data_app.command("bars")
def bars(
    symbols: Annotated[list[str], typer.Argument(help="Tickers, e.g. AAPL MSFT")],
    start: Annotated[str, typer.Option("--start", help="First session, YYYY-MM-DD")],
    end: Annotated[str, typer.Option("--end", help="Last session, YYYY-MM-DD")],
    as_of: Annotated[str, typer.Option("--as-of", help=AS_OF_HELP + "; default now")] = "",
) -> None:
    """Daily bars (split- and dividend-adjusted) as a table per ticker."""
    first = service.parse_date(start, "--start")
    last = service.parse_date(end, "--end")
    moment = service.parse_as_of(as_of)
    with _progress(len(symbols), "fetching bars") as on_progress:
        result = run_async(
            service.fetch_bars(symbols, first, last, as_of=moment, on_progress=on_progress)
        )
    for item in result:
        table = Table("date", "open", "high", "low", "close", "volume", title=item.symbol)
        for row in item.rows:
            table.add_row(
                row.session.isoformat(),
                f"{row.open:.2f}",
                f"{row.high:.2f}",
                f"{row.low:.2f}",
                f"{row.close:.2f}",
                f"{row.volume:,.0f}",
            )
        console.print(table)


@data_app.command("news")
def news(
    symbol: Annotated[str, typer.Argument(help="Ticker, e.g. AAPL")],
    limit: Annotated[int, typer.Option("--limit", help="How many items, newest first")] = 10,
    as_of: Annotated[str, typer.Option("--as-of", help=AS_OF_HELP + "; default now")] = "",
) -> None:
    """The newest news items about a ticker published by --as-of."""
    moment = service.parse_as_of(as_of)
    items = run_async(service.fetch_news(symbol, as_of=moment, limit=limit))
    if not items:
        console.print(f"No news about {symbol.upper()} up to {moment.isoformat()}.")
        return
    table = Table("published (New York)", "source", "headline", title=f"{symbol.upper()} news")
    for item in items:
        stamp = item.published_at.astimezone(EXCHANGE_TZ).strftime("%Y-%m-%d %H:%M")
        table.add_row(stamp, item.source, item.headline)
    console.print(table)


@data_app.command("universe")
def universe(
    as_of: Annotated[str, typer.Option("--as-of", help=AS_OF_HELP + "; default now")] = "",
) -> None:
    """The configured universe (UNIVERSE) with names, sectors and the dates available."""
    moment = service.parse_as_of(as_of)
    symbols = service.configured_universe()
    with _progress(len(symbols), "reading universe") as on_progress:
        members = run_async(service.universe(as_of=moment, on_progress=on_progress))
    console.print(universe_table(members))


def universe_table(members: list[service.UniverseMember]) -> Table:
    """The universe as a rich table (shared with `fingpt demo`)."""
    table = Table("ticker", "name", "sector", "first", "last", title="Universe")
    for member in members:
        table.add_row(
            member.symbol,
            member.name,
            member.sector,
            member.first_session.isoformat() if member.first_session else "-",
            member.last_session.isoformat() if member.last_session else "-",
        )
    return table
