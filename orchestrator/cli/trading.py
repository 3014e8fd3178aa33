"""`fingpt portfolio|orders|pnl|risk`, `fingpt approvals list|approve ID|reject ID`,
`fingpt killswitch on|off`, `fingpt pause|resume`, `fingpt cancel CLIENT_ORDER_ID`.

A person at the terminal is treated as an admin (whoever can run `fingpt` can edit its settings);
what they do is recorded as done by "cli".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import typer
from rich.table import Table

from orchestrator.cli.app import app, console, run_async
from orchestrator.service import trading as service

if TYPE_CHECKING:
    from orchestrator.runtime import Runtime
    from orchestrator.service.views import ApprovalOutcome, ApprovalView

T = TypeVar("T")
CLI_USER = "cli"

approvals_app = typer.Typer(help="Trades waiting for a person's decision.", no_args_is_help=True)
app.add_typer(approvals_app, name="approvals")


def with_runtime(work: Callable[[Runtime], Awaitable[T]]) -> T:
    """Open the configured database, data provider and broker, run `work`, close them."""
    from orchestrator.config import get_settings
    from orchestrator.runtime import build_runtime

    settings = get_settings()

    async def run() -> T:
        clock = None
        if settings.data_provider == "offline":
            # The bundled sample ends in 2015: stand inside it, as the demo and the bot do.
            from orchestrator.service.facade import demo_clock

            clock = demo_clock()
        runtime = await build_runtime(settings, clock=clock, with_knowledge=False)
        try:
            return await work(runtime)
        finally:
            await runtime.close()

    return run_async(run())


@app.command("portfolio")
def portfolio() -> None:
    """Cash, equity, gross exposure and positions at current prices."""
    view = with_runtime(service.portfolio)
    table = Table(
        "symbol", "qty", "avg price", "price", "value", "P/L", "P/L %", "weight %",
        title=f"Portfolio at {view.as_of:%Y-%m-%d %H:%M} UTC",
    )  # fmt: skip
    for p in view.positions:
        table.add_row(
            p.symbol,
            f"{p.quantity:g}",
            f"{p.avg_price:,.2f}",
            f"{p.market_price:,.2f}",
            f"{p.market_value:,.2f}",
            f"{p.unrealized_pl:+,.2f}",
            f"{p.unrealized_pl_pct:+.2f}",
            f"{p.weight_pct:.1f}",
        )
    if view.positions:
        console.print(table)
    else:
        console.print("No open positions.")
    console.print(
        f"Cash {view.cash:,.2f} | equity {view.equity:,.2f} | "
        f"gross exposure {view.gross_exposure_pct:.1f}%",
        highlight=False,
    )


@app.command("orders")
def orders(limit: int = typer.Option(20, "--last", min=1, max=1000, help="How many")) -> None:
    """The most recent orders, newest first, with status and fills."""
    views = with_runtime(lambda runtime: service.orders(runtime, limit=limit))
    if not views:
        console.print("No orders yet.")
        return
    table = Table(
        "client order id", "symbol", "side", "qty", "type", "status", "filled", "avg price",
        "reason", title=f"Last {len(views)} orders",
    )  # fmt: skip
    for o in views:
        kind = f"limit {o.limit_price:,.2f}" if o.limit_price else o.order_type
        table.add_row(
            o.client_order_id,
            o.symbol,
            o.side,
            f"{o.quantity:g}",
            kind,
            o.status,
            f"{o.filled_quantity:g}",
            f"{o.avg_fill_price:,.2f}" if o.avg_fill_price else "",
            o.reason,
        )
    console.print(table)


@app.command("pnl")
def pnl(days: int = typer.Option(7, "--days", min=1, max=3650, help="Window in days")) -> None:
    """Equity change over the last days, one line per day recorded."""
    view = with_runtime(lambda runtime: service.pnl(runtime, days))
    for point in view.points:
        console.print(f"{point.day}  {point.equity:,.2f}", highlight=False)
    console.print(
        f"{view.days} days: {view.start_equity:,.2f} -> {view.end_equity:,.2f} "
        f"({view.change:+,.2f}, {view.change_pct:+.2f}%)",
        highlight=False,
    )


@app.command("risk")
def risk() -> None:
    """The risk limits in force, the switches and today's loss against the daily limit."""
    view = with_runtime(service.risk_view)
    table = Table("limit", "value", title="Risk limits")
    for name, value in view.limits.items():
        table.add_row(name, value)
    scale = ", ".join(f"{k} x{v:g}" for k, v in view.regime_scale.items()) or "off"
    table.add_row("REGIME_EXPOSURE_SCALE", scale)
    table.add_row("APPROVAL_POLICY", view.approval_policy)
    console.print(table)
    console.print(
        f"Kill switch {'ON' if view.kill_switch else 'off'} | "
        f"trading {'paused' if view.paused else 'on'}"
        + (f" | today {view.day_pl_pct:+.2f}%" if view.day_pl_pct is not None else ""),
        highlight=False,
    )
    if view.halted_reason:
        console.print(f"[bold red]Halted:[/] {view.halted_reason}", highlight=False)


def print_approvals(views: list[ApprovalView], title: str) -> None:
    table = Table(
        "id", "side", "qty", "symbol", "price", "notional", "verdict", "status", "expires (UTC)",
        "why", title=title,
    )  # fmt: skip
    for a in views:
        why = "; ".join(a.reasons) or a.rationale[:60]
        if a.note:
            why = a.note
        table.add_row(
            a.id,
            a.side,
            f"{a.quantity:g}",
            a.symbol,
            f"{a.price:,.2f}",
            f"{a.notional:,.2f}",
            a.verdict,
            a.status,
            f"{a.expires_at:%Y-%m-%d %H:%M}",
            why,
        )
    console.print(table)


@approvals_app.command("list")
def approvals_list(
    show_all: bool = typer.Option(False, "--all", help="Also decided and expired ones"),
) -> None:
    """Pending approvals (expired ones are marked expired first)."""

    async def work(runtime: Runtime) -> list[ApprovalView]:
        await service.expire_due(runtime)
        if show_all:
            return await service.recent_approvals(runtime, limit=50)
        return await service.pending_approvals(runtime)

    views = with_runtime(work)
    if not views:
        console.print("No pending approvals." if not show_all else "No approvals yet.")
        return
    print_approvals(views, "Approvals" if show_all else "Pending approvals")


def _print_outcome(outcome: ApprovalOutcome) -> None:
    console.print(f"{outcome.approval.id}: {outcome.message}", highlight=False)
    if outcome.order is not None:
        o = outcome.order
        console.print(
            f"Order {o.client_order_id}: {o.side} {o.quantity:g} {o.symbol}, {o.status}",
            highlight=False,
        )


@approvals_app.command("approve")
def approve(
    approval_id: str = typer.Argument(..., help="The id shown by `approvals list`"),
) -> None:
    """Approve a pending trade: re-priced now and checked by the risk manager again."""
    _print_outcome(with_runtime(lambda r: service.approve(r, approval_id, user=CLI_USER)))


@approvals_app.command("reject")
def reject(approval_id: str = typer.Argument(..., help="The id shown by `approvals list`")) -> None:
    """Reject a pending trade; nothing is sent."""
    _print_outcome(with_runtime(lambda r: service.reject(r, approval_id, user=CLI_USER)))


@app.command("killswitch")
def killswitch(
    state: str = typer.Argument(..., help="on (halt all trading) or off"),
    reason: str = typer.Option("", "--reason", help="Shown with the alert"),
) -> None:
    """Halt all trading (on) or allow it again (off)."""
    value = state.strip().lower()
    if value not in ("on", "off"):
        raise typer.BadParameter("say on or off", param_hint="STATE")
    with_runtime(lambda r: service.set_kill_switch(r, value == "on", user=CLI_USER, reason=reason))
    if value == "on":
        console.print("Kill switch ON: every order is blocked until `fingpt killswitch off`.")
    else:
        console.print("Kill switch off: trading may resume.")


@app.command("pause")
def pause() -> None:
    """Stop sending orders (cycles still run and record what they would have done)."""
    with_runtime(lambda r: service.pause(r, user=CLI_USER))
    console.print("Trading paused: nothing is sent or approved until `fingpt resume`.")


@app.command("resume")
def resume() -> None:
    """Send orders again after `fingpt pause`."""
    with_runtime(lambda r: service.resume(r, user=CLI_USER))
    console.print("Trading resumed.")


@app.command("cancel")
def cancel(client_order_id: str = typer.Argument(..., help="From `fingpt orders`")) -> None:
    """Cancel an open order."""
    view = with_runtime(lambda r: service.cancel_order(r, client_order_id, user=CLI_USER))
    console.print(f"Order {view.client_order_id}: {view.status}", highlight=False)
