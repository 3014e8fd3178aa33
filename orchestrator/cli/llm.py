"""`fingpt ask "question"`, `fingpt llm calls --last 20` and `fingpt llm call <id>`."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from orchestrator.cli.app import app, console, run_async
from orchestrator.service import data as data_service
from orchestrator.service import llm as llm_service

llm_app = typer.Typer(help="LLM call log and costs.", no_args_is_help=True)
app.add_typer(llm_app, name="llm")


@app.command("ask")
def ask(
    question: str = typer.Argument(..., help="A plain-language question"),
    chat: str | None = typer.Option(None, "--chat", help="Remember the conversation under this id"),
    show_results: bool = typer.Option(False, "--results", help="Also print each tool's result"),
    as_of: str = typer.Option(
        "", "--as-of", help="Answer as of this moment (YYYY-MM-DD = end of that day, New York)"
    ),
) -> None:
    """Ask the agent one question; prints the answer, then the tools it called, tokens and cost."""
    from orchestrator.clock import FixedClock
    from orchestrator.config import get_settings
    from orchestrator.service.facade import Orchestrator

    moment = data_service.parse_as_of(as_of) if as_of else None

    async def run() -> llm_service.AskView:
        # Through the service, so portfolio and order questions see this process's broker.
        clock = FixedClock(moment) if moment is not None else None
        service = await Orchestrator.create(get_settings(), clock=clock)
        try:
            return await service.ask(chat, question, "cli")
        finally:
            await service.close()

    view = run_async(run())
    console.print(view.text, highlight=False, markup=False)
    console.print()
    if view.tool_calls:
        table = Table("tool", "arguments", "ok", "ms", title="Tools called", title_justify="left")
        for call in view.tool_calls:
            table.add_row(
                call.name, call.arguments, "yes" if call.ok else "error", f"{call.duration_ms:.0f}"
            )
        console.print(table)
        if show_results:
            for call in view.tool_calls:
                console.print(f"[bold]{call.name}[/]: {call.result_preview}", highlight=False)
    else:
        console.print("Tools called: none")
    console.print(
        f"Engine: {view.engine} | steps: {view.steps} | tokens: {view.prompt_tokens:,} in, "
        f"{view.completion_tokens:,} out | cost: ${view.cost_usd:.4f} | {view.seconds:.2f}s",
        highlight=False,
    )
    if view.stopped_reason:
        console.print(f"[yellow]Stopped early ({view.stopped_reason}).[/]")
    if view.offline and view.hint not in view.text:
        console.print(f"[dim]{view.hint}[/]", highlight=False)


@llm_app.command("calls")
def calls(
    last: int = typer.Option(20, "--last", min=1, max=1000, help="How many recent calls"),
    task: str | None = typer.Option(None, "--task", help="Only this task (chat, sentiment, ...)"),
) -> None:
    """The most recent LLM calls: task, model, tokens, cost, latency, cache and errors."""
    rows = llm_service.recent_calls(last, task=task)
    if not rows:
        console.print("No LLM calls recorded yet.")
        return
    # Host and template only when the terminal has room: at 80 columns they squeeze every
    # other column to an ellipsis (`fingpt llm call <id>` shows everything).
    wide = console.width >= 120
    columns = ["id", "time (UTC)", "task", "model"]
    columns += ["host", "template"] if wide else []
    columns += ["tokens in/out", "cost $", "ms", "note"]
    table = Table(*columns, title=f"Last {len(rows)} LLM calls")
    for row in rows:
        notes = [f"cycle {row.cycle_id}"] if row.cycle_id else []
        notes += [f"chat {row.chat_id}"] if row.chat_id and not row.cycle_id else []
        if row.cached:
            notes.append("replay")
        if row.retries:
            notes.append(f"{row.retries} retries")
        if row.tokens_estimated:
            notes.append("est. tokens")
        if row.error:
            notes.append(f"error: {row.error[:60]}")
        cells = [str(row.id), row.created_at.strftime("%m-%d %H:%M:%S"), row.task, row.model]
        if wide:
            version = f"@{row.template_version}" if row.template_version else ""
            cells += [row.endpoint_host, f"{row.template}{version}"]
        cells += [
            f"{row.prompt_tokens:,}/{row.completion_tokens:,}",
            f"{row.cost_usd:.5f}",
            f"{row.latency_ms:.0f}",
            ", ".join(notes),
        ]
        table.add_row(*cells)
    console.print(table)


@llm_app.command("call")
def call(call_id: int = typer.Argument(..., help="Call id from `fingpt llm calls`")) -> None:
    """One call's full request and response JSON."""
    detail = llm_service.call_detail(call_id)
    console.print_json(json.dumps(detail.model_dump(mode="json"), default=str))


@llm_app.command("cost")
def cost() -> None:
    """Today's LLM tokens and cost (UTC day), per task."""
    view = llm_service.cost_today()
    console.print(
        f"Today: {view.today_calls} calls, {view.today_tokens:,} tokens, ${view.today_cost_usd:.4f}"
    )
    for task, usd in sorted(view.by_task.items()):
        console.print(f"  {task}: ${usd:.4f}")
