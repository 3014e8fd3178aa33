"""`fingpt cycle`: one trading cycle now, with live progress and a summary table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from orchestrator.cli.app import app, console, run_async

if TYPE_CHECKING:
    from orchestrator.cycle_record import CycleRecord
    from orchestrator.events import Event
    from orchestrator.service.facade import Orchestrator

# What each cycle event means to someone watching the terminal.
_PROGRESS = {
    "cycle.started": "cycle started",
    "candidates.selected": "candidates selected",
    "analysis.completed": "analysis done",
    "decision.proposed": "decision made",
    "risk.verdict": "risk checked",
    "approval.requested": "approval requested",
    "order.submitted": "order submitted",
}


@app.command("cycle")
def cycle() -> None:
    """Run one trading cycle now (select, analyse, decide, risk, confirm, execute, record)."""
    from orchestrator.config import get_settings
    from orchestrator.service.facade import Orchestrator
    from orchestrator.service.system import freeze_heap

    async def run() -> CycleRecord:
        service = await Orchestrator.create(get_settings())
        freeze_heap()
        try:
            return await run_with_progress(service)
        finally:
            await service.close()

    print_cycle(run_async(run()))


async def run_with_progress(service: Orchestrator) -> CycleRecord:
    """Run a cycle on `service`, printing each step as its event arrives."""

    async def show(event: Event) -> None:
        label = _PROGRESS.get(event.type)
        if label:
            detail = event.payload.get("symbols") or event.payload.get("symbol") or ""
            console.log(f"{label} {detail}".rstrip(), highlight=False)

    service.bus.subscribe(tuple(_PROGRESS), show)
    for note in service.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    record = await service.run_cycle(requested_by="cli")
    drain = getattr(service.bus, "drain", None)
    if drain is not None:
        await drain()
    return record


def print_cycle(record: CycleRecord) -> None:
    """The cycle's candidates with their signals, its proposals with verdicts, and totals."""
    signals = Table("symbol", "held", "price", "signals", "error", title="Candidates")
    for c in record.candidates:
        shown = ", ".join(f"{k} {v:+.2f}" for k, v in sorted(c.signals.items()))
        signals.add_row(
            c.symbol, "yes" if c.held else "", f"{c.price:.2f}" if c.price else "", shown, c.error
        )
    console.print(signals)
    proposals = Table(
        "symbol", "side", "qty", "verdict", "approval", "order", "why", title="Proposals"
    )
    for p in record.proposals:
        quantity = p.verdict_quantity if p.verdict_quantity is not None else p.quantity
        why = p.dropped_reason or "; ".join(p.reasons) or p.rationale
        proposals.add_row(
            p.symbol,
            p.side,
            f"{quantity:g}" if quantity else "",
            p.verdict or "dropped",
            p.approval_status,
            p.order_status,
            why[:80],
        )
    console.print(proposals)
    if record.decision_abstained:
        console.print(f"[yellow]decision abstained:[/] {record.decision_abstained}")
    timings = ", ".join(f"{step} {seconds:.2f}s" for step, seconds in record.timings.items())
    console.print(
        f"Cycle {record.cycle_id} {record.status}"
        + (f" ({record.error})" if record.error else "")
        + f" | regime {record.regime or 'unknown'} | engine {record.engine} | "
        f"{record.llm_calls} LLM calls, {record.tokens:,} tokens, ${record.cost_usd:.4f} | "
        f"{timings}",
        highlight=False,
    )
