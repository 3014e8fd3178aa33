"""`fingpt eval ...`: evaluation commands that check the analysis claims on anyone's data.

`eval sentiment`, `eval forecast`, `eval selection` live here; other modules add their own
evaluation commands to `eval_app` (for example `eval rag`). Each prints a table, or JSON with
`--json`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from orchestrator.cli.app import app, console, err_console, run_async
from orchestrator.service import analysis
from orchestrator.service.data import parse_date
from orchestrator.service.views import View

eval_app = typer.Typer(
    help="Evaluate sentiment, forecast, selection (and retrieval) on your own data.",
    no_args_is_help=True,
)
app.add_typer(eval_app, name="eval")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")]


def _print_json(view: View) -> None:
    console.print_json(json.dumps(view.model_dump(mode="json")))


@eval_app.command("sentiment")
def eval_sentiment(
    file: Annotated[Path, typer.Option("--file", help="CSV with columns text,label")],
    label_map: Annotated[
        str | None,
        typer.Option(
            "--label-map",
            help="Map raw labels to names, e.g. 0=negative,1=positive,2=neutral (Twitter set)",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Accuracy, weighted F1, confusion matrix and items/s of the offline sentiment engine."""
    view = run_async(analysis.evaluate_sentiment(file, label_map=label_map))
    if as_json:
        _print_json(view)
        return
    console.print(
        f"{view.items} items, engine {view.engine}: accuracy {view.accuracy:.4f}, "
        f"weighted F1 {view.weighted_f1:.4f}, {view.items_per_second:,.0f} items/s"
    )
    labels = list(view.confusion)
    table = Table("true \\ predicted", *labels, "F1", title="Confusion matrix")
    for truth in labels:
        row = view.confusion[truth]
        table.add_row(truth, *(str(row[p]) for p in labels), f"{view.per_class_f1[truth]:.3f}")
    console.print(table)


@eval_app.command("forecast")
def eval_forecast(
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Folder of <TICKER>.csv(.gz)")],
    start: Annotated[str, typer.Option(help="First forecast date YYYY-MM-DD")],
    end: Annotated[str, typer.Option(help="Last forecast date YYYY-MM-DD")],
    tickers: Annotated[
        str | None, typer.Option(help="Comma list (default: every file in the folder)")
    ] = None,
    retrain_sessions: Annotated[
        int, typer.Option(min=5, max=260, help="Retrain the model every N sessions")
    ] = 21,
    as_json: JsonOption = False,
) -> None:
    """Walk-forward weekly forecasts: binary accuracy, bin MSE and Brier score of the
    quantitative model next to the always-up and last-week-momentum baselines."""
    chosen = [t.strip() for t in tickers.split(",") if t.strip()] if tickers else None

    def progress(done: int, total: int) -> None:
        if not as_json:
            err_console.print(f"\rtraining {done}/{total}", end="")

    view = run_async(
        analysis.evaluate_forecast(
            data_dir,
            parse_date(start, "--start"),
            parse_date(end, "--end"),
            tickers=chosen,
            retrain_sessions=retrain_sessions,
            on_progress=progress,
        )
    )
    if as_json:
        _print_json(view)
        return
    err_console.print()
    table = Table("model", "binary accuracy", "bin MSE (%²)", "Brier")
    for score in view.scores:
        brier = f"{score.brier:.4f}" if score.brier is not None else "-"
        table.add_row(score.name, f"{score.binary_accuracy:.4f}", f"{score.bin_mse:.3f}", brier)
    console.print(table)
    console.print(
        f"{view.ticker_weeks:,} ticker-weeks ({view.tickers} tickers x {view.weeks} weeks, "
        f"{view.start} to {view.end}); up weeks {100 * view.up_rate:.1f} %; {view.retrains} "
        f"retrains; relative to {view.benchmark}; {view.seconds:.0f}s"
    )
    if view.skipped:
        console.print(f"skipped (no bars): {', '.join(view.skipped)}")


@eval_app.command("selection")
def eval_selection(
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Folder of <TICKER>.csv(.gz)")],
    start: Annotated[str, typer.Option(help="First screen date YYYY-MM-DD")],
    end: Annotated[str, typer.Option(help="Last screen date YYYY-MM-DD")],
    tickers: Annotated[
        str | None, typer.Option(help="Comma list (default: every file in the folder)")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Forward 20-session return of the screener's top decile against the whole universe."""
    chosen = [t.strip() for t in tickers.split(",") if t.strip()] if tickers else None
    view = run_async(
        analysis.evaluate_selection(
            data_dir, parse_date(start, "--start"), parse_date(end, "--end"), tickers=chosen
        )
    )
    if as_json:
        _print_json(view)
        return
    table = Table("periods", "tickers", "top decile %", "universe %", "excess %", "hit rate")
    table.add_row(
        str(view.periods),
        str(view.tickers),
        f"{view.top_decile_return_pct:+.3f}",
        f"{view.universe_return_pct:+.3f}",
        f"{view.excess_return_pct:+.3f}",
        f"{view.hit_rate:.3f}",
    )
    console.print(table)
    console.print(
        f"Monthly screens {view.start} to {view.end}, mean forward 20-session returns; "
        f"{view.seconds_per_screen:.2f}s per screen."
    )
