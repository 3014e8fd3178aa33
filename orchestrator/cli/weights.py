"""`fingpt weights`: the decision's signal weights and why they last changed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from orchestrator.cli.app import app, console, run_async

if TYPE_CHECKING:
    from orchestrator.service.views import WeightsView


@app.command("weights")
def weights(last: int = 5) -> None:
    """Show the self-tuning signal weights (newest first) and the hit rates behind them."""
    from orchestrator.config import get_settings
    from orchestrator.service.facade import Orchestrator

    async def load() -> list[WeightsView]:
        service = await Orchestrator.create(get_settings())
        try:
            return await service.weights(last)
        finally:
            await service.close()

    views = run_async(load())
    if not get_settings().adaptive_weights:
        console.print("ADAPTIVE_WEIGHTS=false: decisions use the default weights.")
    names = list(views[0].weights)
    table = Table("since", *names, "reason", title="Signal weights")
    for view in views:
        since = f"{view.since:%Y-%m-%d %H:%M}" if view.since else "defaults"
        table.add_row(since, *(f"{view.weights.get(n, 0.0):.3f}" for n in names), view.reason)
    console.print(table)
