"""`fingpt demo`: a full offline trading cycle on the bundled sample (no network, no keys)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from rich.table import Table

from orchestrator.cli.app import app, console, run_async

DEMO_DIR = Path("var/demo")


@app.command("demo")
def demo(
    var_dir: Path = DEMO_DIR,
) -> None:
    """Run one full cycle offline on the bundled 2014-2015 sample, then fill its orders."""
    from orchestrator.cli.cycle import print_cycle, run_with_progress
    from orchestrator.service.data import demo_settings
    from orchestrator.service.facade import Orchestrator

    # Each demo starts from an empty ledger so its numbers are the same on every run; trained
    # forecast models under var_dir/models are kept (they are reused, not retrained).
    for ledger in var_dir.glob("fingpt.db*"):
        ledger.unlink()
    settings = demo_settings(
        var_dir=var_dir,
        database_url="",
        qdrant_path=None,
        redis_url=None,
        openai_api_key=None,
        openai_base_url=None,
        approval_policy="auto",
        metrics_port=0,
    )

    async def run() -> None:
        service = await Orchestrator.create(settings)
        try:
            console.rule(f"FinGPT Orchestrator demo at {service.now():%Y-%m-%d %H:%M} UTC")
            record = await run_with_progress(service)
            print_cycle(record)
            # Let the sample's next session happen: market orders fill at its open.
            fills = await service.advance_clock(timedelta(days=1))
            console.print(f"Next session: {fills} fill(s).")
            print_portfolio(await service.portfolio())
        finally:
            await service.close()

    run_async(run())
    console.print(
        f"\nDatabase: {settings.database_url}\n"
        "Next: `fingpt cycle` runs a cycle with your settings, `fingpt run` starts the scheduler, "
        "the Telegram bot and Prometheus metrics on METRICS_PORT, `fingpt backtest` replays "
        "history. README.md explains live data, an LLM, Telegram and Alpaca paper trading.",
        highlight=False,
    )


def print_portfolio(view) -> None:  # type: ignore[no-untyped-def]
    table = Table("symbol", "qty", "avg price", "price", "value", "P/L %", title="Portfolio")
    for p in view.positions:
        table.add_row(
            p.symbol,
            f"{p.quantity:g}",
            f"{p.avg_price:.2f}",
            f"{p.market_price:.2f}",
            f"{p.market_value:,.2f}",
            f"{p.unrealized_pl_pct:+.2f}",
        )
    console.print(table)
    console.print(
        f"Cash {view.cash:,.2f} | equity {view.equity:,.2f} | "
        f"gross exposure {view.gross_exposure_pct:.1f}%",
        highlight=False,
    )
