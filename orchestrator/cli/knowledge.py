"""`fingpt ingest path|ectsum|news`, `fingpt knowledge search` and `fingpt eval rag`.

Ingestion shows a progress bar and is resumable: stop it at any point and run the same command
again; finished documents are skipped and the interrupted one is redone cleanly.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from orchestrator.cli.app import app, console, lazy_import, run_async
from orchestrator.cli.eval import eval_app
from orchestrator.service.data import parse_as_of, parse_date

if TYPE_CHECKING:
    from orchestrator.service import knowledge
else:
    knowledge = lazy_import("orchestrator.service.knowledge")

ingest_app = typer.Typer(help="Add documents to the knowledge base (RAG).", no_args_is_help=True)
knowledge_app = typer.Typer(help="Search the knowledge base.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")
app.add_typer(knowledge_app, name="knowledge")


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[chunks]} chunks"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _print_ingest(view: knowledge.IngestView) -> None:
    console.print(
        f"{view.added} document(s) added ({view.chunks} chunks, "
        f"{view.chunks_per_second:.1f} chunks/s), {view.skipped} already present, "
        f"{view.redone} redone after an interruption."
    )


@ingest_app.command("path")
def ingest_path(
    path: Annotated[Path, typer.Argument(help="A PDF/HTML/TXT/MD file or a folder of them")],
    ticker: Annotated[list[str], typer.Option("--ticker", "-t", help="Ticker(s) it is about")] = [],  # noqa: B006
    doc_type: Annotated[
        str | None, typer.Option("--type", help="filing, transcript, news, document, ...")
    ] = None,
    published: Annotated[
        str | None, typer.Option("--date", help="Publication date YYYY-MM-DD (default: mtime)")
    ] = None,
) -> None:
    """Ingest files (10-K/10-Q, transcripts, reports). The same content is never added twice."""
    # A document dated D becomes visible after that day's close (21:00 UTC), like the ECTSum
    # calls: a backtest run during day D never sees what may have come out after it.
    when = (
        datetime.combine(parse_date(published, "--date"), time(21, 0), tzinfo=UTC)
        if published
        else None
    )
    total = knowledge.count_files(path)
    with _progress() as progress:
        task = progress.add_task("files", total=total, chunks=0)
        view = run_async(
            knowledge.ingest_path(
                path,
                tickers=ticker,
                doc_type=doc_type,
                published_at=when,
                on_progress=lambda docs, chunks: progress.update(
                    task, completed=docs, chunks=chunks
                ),
            )
        )
        progress.update(task, completed=total)
    _print_ingest(view)


@ingest_app.command("ectsum")
def ingest_ectsum(
    file: Annotated[Path, typer.Argument(help="ECTSum .jsonl or .jsonl.gz")],
    limit: Annotated[int | None, typer.Option(help="Only the first N records")] = None,
) -> None:
    """Ingest earnings-call transcripts in the ECTSum JSONL layout."""
    with _progress() as progress:
        task = progress.add_task("transcripts", total=limit, chunks=0)
        view = run_async(
            knowledge.ingest_ectsum(
                file,
                limit=limit,
                on_progress=lambda docs, chunks: progress.update(
                    task, completed=docs, chunks=chunks
                ),
            )
        )
    _print_ingest(view)


@ingest_app.command("news")
def ingest_news(
    tickers: Annotated[str, typer.Argument(help="Comma-separated tickers, e.g. AAPL,MSFT")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="YYYY-MM-DD (default now)")] = None,
    limit: Annotated[int, typer.Option(help="Newest items per ticker")] = 50,
) -> None:
    """Fetch recent news from the data provider and ingest it."""
    symbols = [t.strip().upper() for t in tickers.split(",") if t.strip()]
    view = run_async(knowledge.ingest_news(symbols, as_of=parse_as_of(as_of), limit=limit))
    _print_ingest(view)


@ingest_app.command("history")
def ingest_history() -> None:
    """Ingest the bot's own past decisions, outcomes and lessons from the database (cycles add
    new ones automatically; this backfills)."""
    with _progress() as progress:
        task = progress.add_task("records", total=None, chunks=0)
        view = run_async(
            knowledge.ingest_history(
                on_progress=lambda docs, chunks: progress.update(
                    task, completed=docs, chunks=chunks
                )
            )
        )
    _print_ingest(view)


@knowledge_app.command("search")
def search(
    query: Annotated[str, typer.Argument(help="What to look for")],
    ticker: Annotated[list[str], typer.Option("--ticker", "-t")] = [],  # noqa: B006
    doc_type: Annotated[list[str], typer.Option("--type")] = [],  # noqa: B006
    as_of: Annotated[str | None, typer.Option("--as-of", help="Nothing published later")] = None,
    k: Annotated[int, typer.Option("-k", help="How many passages")] = 5,
) -> None:
    """Hybrid search (dense + keyword with numbers) over everything ingested."""
    hits = run_async(
        knowledge.search(query, as_of=parse_as_of(as_of), tickers=ticker, doc_types=doc_type, k=k)
    )
    if not hits:
        console.print("Nothing found.")
    for hit in hits:
        console.print(
            f"[bold]{hit.title}[/bold]  {hit.doc_type} {','.join(hit.tickers)} "
            f"{hit.published_at.date().isoformat()}  score {hit.score:.3f}\n"
            f"[dim]{hit.source}[/dim]\n{hit.text[:400]}\n",
            markup=True,
            highlight=False,
        )


@eval_app.command("rag")
def eval_rag(
    file: Annotated[Path, typer.Option("--file", help="ECTSum .jsonl(.gz)")],
    limit: Annotated[int | None, typer.Option(help="Only the first N transcripts")] = None,
    modes: Annotated[
        str, typer.Option(help="Comma list of hybrid, dense, sparse")
    ] = "hybrid,dense,sparse",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")] = False,
) -> None:
    """Recall@1/5/10, MRR, ingest chunks/s and query latency: each summary line must find its
    own transcript (in a throw-away collection)."""
    chosen = tuple(m.strip() for m in modes.split(",") if m.strip())
    for mode in chosen:
        if mode not in ("hybrid", "dense", "sparse"):
            raise typer.BadParameter(f"unknown mode {mode!r}", param_hint="--modes")
    if as_json:
        view = run_async(knowledge.evaluate_rag(file, limit=limit, modes=chosen))  # type: ignore[arg-type]
        console.print_json(json.dumps(view.model_dump(mode="json")))
        return
    with _progress() as progress:
        task = progress.add_task("ingest", total=limit, chunks=0)
        queries = progress.add_task("queries", total=None, chunks="-")
        view = run_async(
            knowledge.evaluate_rag(
                file,
                limit=limit,
                modes=chosen,  # type: ignore[arg-type]
                on_ingest=lambda docs, chunks: progress.update(task, completed=docs, chunks=chunks),
                on_query=lambda done: progress.update(queries, completed=done),
            )
        )
    table = Table("mode", "queries", "recall@1", "recall@5", "recall@10", "MRR", "p50 ms", "p95 ms")
    for s in view.scores:
        table.add_row(
            s.mode,
            str(s.queries),
            f"{s.recall_at_1:.3f}",
            f"{s.recall_at_5:.3f}",
            f"{s.recall_at_10:.3f}",
            f"{s.mrr:.3f}",
            f"{s.query_p50_ms:.1f}",
            f"{s.query_p95_ms:.1f}",
        )
    console.print(table)
    console.print(
        f"{view.documents} transcripts, {view.chunks} chunks ingested in "
        f"{view.ingest_seconds:.1f}s ({view.ingest_chunks_per_second:.1f} chunks/s)."
    )
