"""`fingpt weights`: the decision's signal weights and why they last changed."""

from __future__ import annotations

from rich.table import Table

from orchestrator.cli.app import app, console, run_async


@app.command("weights")
def weights(last: int = 5) -> None:
    """Show the self-tuning signal weights (newest first) and the hit rates behind them."""
    from orchestrator.config import get_settings
    from orchestrator.decision import DEFAULT_WEIGHTS
    from orchestrator.service.facade import Orchestrator

    async def load() -> list[dict[str, object]]:
        service = await Orchestrator.create(get_settings())
        try:
            return await service.weights(last)
        finally:
            await service.close()

    history = run_async(load())
    if not get_settings().adaptive_weights:
        console.print("ADAPTIVE_WEIGHTS=false: decisions use the default weights.")
    names = list(DEFAULT_WEIGHTS)
    table = Table("since", *names, "reason", title="Signal weights")
    table.add_row("defaults", *(f"{DEFAULT_WEIGHTS[n]:.3f}" for n in names), "")
    for change in history:
        values = change["weights"]
        assert isinstance(values, dict)
        table.add_row(
            f"{change['at']:%Y-%m-%d %H:%M}",
            *(f"{values.get(n, 0.0):.3f}" for n in names),
            str(change["reason"]),
        )
    console.print(table)
