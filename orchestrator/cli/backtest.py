"""`fingpt backtest`: replay the trading cycle over history and write a report."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from orchestrator.cli.app import app, console, err_console, run_async
from orchestrator.errors import ConfigError
from orchestrator.service.data import parse_date


@app.command("backtest")
def backtest(
    start: Annotated[str, typer.Option("--start", help="First session, YYYY-MM-DD")],
    end: Annotated[str, typer.Option("--end", help="Last session, YYYY-MM-DD")],
    tickers: Annotated[
        list[str] | None, typer.Option("--tickers", help="Tickers (repeat or comma-separate)")
    ] = None,
    universe: Annotated[
        Path | None, typer.Option("--universe", help="File of tickers (one a line or commas)")
    ] = None,
    cash: Annotated[float, typer.Option("--cash", help="Starting cash")] = 100_000.0,
    rebalance: Annotated[str, typer.Option("--rebalance", help="daily | weekly")] = "daily",
    engine: Annotated[str, typer.Option("--engine", help="offline | llm")] = "offline",
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Folder of <TICKER>.csv(.gz); default the bundled sample"),
    ] = None,
    adaptive: Annotated[
        str, typer.Option("--adaptive", help="on | off: self-tuning signal weights")
    ] = "",
    out: Annotated[
        Path | None, typer.Option("--out", help="Output folder; default VAR_DIR/backtests/<id>")
    ] = None,
    training_cutoff: Annotated[
        str, typer.Option("--training-cutoff", help="Model training cut-off, YYYY-MM-DD")
    ] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON")] = False,
) -> None:
    """Replay the live trading cycle over history (point-in-time, next-open fills)."""
    # Imported here: the backtester loads matplotlib and the whole cycle, which every other
    # `fingpt` command would otherwise pay for at start.
    from orchestrator.service import backtest as service

    symbols = [part.strip() for item in tickers or [] for part in item.split(",") if part.strip()]
    if universe is not None:
        symbols += service.read_universe_file(universe)
    if not symbols:
        if data_dir is not None:
            raise ConfigError("give --tickers or --universe with --data-dir")
        from orchestrator.config import DEFAULT_UNIVERSE

        symbols = DEFAULT_UNIVERSE.split(",")
    if adaptive not in ("", "on", "off"):
        raise ConfigError(f"--adaptive {adaptive!r}: expected on or off")
    config = service.backtest_config(
        start=parse_date(start, "--start"),
        end=parse_date(end, "--end"),
        tickers=symbols,
        cash=cash,
        rebalance=rebalance,
        engine=engine,
        data_dir=data_dir,
        adaptive={"on": True, "off": False}.get(adaptive),
        out_dir=out,
        training_cutoff=parse_date(training_cutoff, "--training-cutoff")
        if training_cutoff
        else None,
    )
    with Progress(
        TextColumn("backtest {task.fields[day]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        disable=as_json and not err_console.is_terminal,
    ) as progress:
        task = progress.add_task("backtest", total=None, day="")

        def on_progress(done: int, total: int, day: date) -> None:
            progress.update(task, completed=done, total=total, day=day.isoformat())

        result, files = run_async(service.run(config, progress=on_progress))
    if as_json:
        print(json.dumps(result.model_dump(mode="json"), indent=2))
        return
    table = Table("metric", "strategy", *[b.name for b in result.benchmarks], title=result.id)
    rows = (
        ("total return", "total_return", True),
        ("annualised", "annualised_return", True),
        ("Sharpe", "sharpe", False),
        ("max drawdown", "max_drawdown", True),
    )
    for label, key, pct in rows:
        cells = [result.strategy] + [b.metrics for b in result.benchmarks]
        table.add_row(label, *[_cell(getattr(m, key) if m else None, pct) for m in cells])
    console.print(table)
    trading = result.trading
    console.print(
        f"{trading.trades} trades, win rate {_cell(trading.win_rate, True)}, exposure "
        f"{trading.exposure:.0%}; LLM calls {result.llm.calls} (replayed "
        f"{result.llm.replay_hits}), {result.llm.tokens:,} tokens, ${result.llm.cost_usd:.4f}; "
        f"{result.sessions} sessions in {result.seconds:.1f} s"
    )
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    console.print(f"report: {files[0]}")


def _cell(value: float | None, pct: bool) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.2%}" if pct else f"{value:.2f}"
