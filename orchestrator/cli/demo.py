"""`fingpt demo`: the offline demo on the bundled sample (no network, no keys)."""

from __future__ import annotations

from datetime import timedelta

from rich.table import Table

from orchestrator.cli.app import app, console, run_async
from orchestrator.cli.data import universe_table
from orchestrator.service import data as service

_DEMO_SYMBOL = "AAPL"
# About a month of sessions: enough to see a trend in a terminal-sized table.
_DEMO_DAYS = 30


@app.command("demo")
def demo() -> None:
    """Run the offline demo on the bundled 2014-2015 sample (needs no network or keys)."""
    provider = service.offline_market_data()
    as_of = service.demo_as_of()
    members = run_async(
        service.universe(as_of=as_of, symbols=provider.symbols(), provider=provider)
    )
    console.print(universe_table(members))
    end = as_of.date()
    (bars,) = run_async(
        service.fetch_bars(
            [_DEMO_SYMBOL], end - timedelta(days=_DEMO_DAYS), end, as_of=as_of, provider=provider
        )
    )
    table = Table("date", "open", "high", "low", "close", "volume", title=f"{bars.symbol} bars")
    for row in bars.rows:
        table.add_row(
            row.session.isoformat(),
            f"{row.open:.2f}",
            f"{row.high:.2f}",
            f"{row.low:.2f}",
            f"{row.close:.2f}",
            f"{row.volume:,.0f}",
        )
    console.print(table)
    console.print(
        f"Offline sample: {len(members)} tickers, prices and tweets 2014-2015 (StockNet, MIT). "
        "The full trading-cycle demo comes with the cycle."
    )
