"""`fingpt ingest`, `fingpt knowledge search` and `fingpt eval rag` as a user runs them: default
settings (local Qdrant under VAR_DIR), the local MiniLM copy, or an OpenAI-compatible endpoint."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.analysis.rag.store import close_all
from orchestrator.cli import app
from orchestrator.config import get_settings
from tests.fakes.openai_server import (  # noqa: F401
    FakeOpenAI,
    close_openai_clients,
    fake_openai,
    fake_openai_factory,
)
from tests.rag.conftest import MODEL_DIR, make_pdf

runner = CliRunner()


@pytest.fixture(autouse=True)
def _release_qdrant() -> Iterator[None]:
    yield
    close_all()


@pytest.fixture
def local_model(monkeypatch: pytest.MonkeyPatch) -> None:
    if not MODEL_DIR.is_dir():
        pytest.skip("../shared/models/all-MiniLM-L6-v2-onnx is not beside this checkout")
    monkeypatch.setenv("EMBED_MODEL_PATH", str(MODEL_DIR))
    monkeypatch.setenv("EMBED_INT8", "false")  # skip the one-off quantisation in these tests
    get_settings.cache_clear()


def _invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def _folder(root: Path) -> Path:
    docs = root / "docs"
    (docs / "sub").mkdir(parents=True)
    make_pdf(
        docs / "acme-10-K-2020.pdf",
        [
            ["ACME CORP ANNUAL REPORT 2020", "Item 1. Business", "Acme makes anvils."],
            ["Item 7. Management's Discussion", "Anvil revenue grew 23 percent to $812 million."],
        ],
        title="Acme 10-K 2020",
    )
    (docs / "sub" / "notes.md").write_text("# Widgets\n\nWidget margins fell to 31.5 percent.\n")
    (docs / "sub" / "call.html").write_text(
        "<html><head><title>Acme call</title><script>var x=1;</script></head>"
        "<body><p>Backlog reached 4,210 anvils.</p></body></html>"
    )
    (docs / "prices.csv").write_text("a,b\n1,2\n")  # not a supported type: ignored
    return docs


def test_ingest_a_folder_then_search(tmp_path: Path, local_model: None) -> None:
    docs = _folder(tmp_path)
    out = _invoke("ingest", "path", str(docs), "-t", "acme", "--date", "2021-02-15")
    assert "3 document(s) added" in " ".join(out.split())
    again = " ".join(_invoke("ingest", "path", str(docs)).split())
    assert "0 document(s) added" in again and "3 already present" in again

    found = _invoke("knowledge", "search", "anvil revenue 812 million", "-k", "1")
    assert "Acme 10-K 2020" in found and "filing ACME 2021-02-15" in found
    assert "grew 23 percent" in found
    html = _invoke("knowledge", "search", "backlog anvils", "--type", "document", "-k", "1")
    assert "Acme call" in html and "var x" not in html
    # Point in time from the command line too: nothing was published before the given date.
    assert "Nothing found" in _invoke("knowledge", "search", "anvil", "--as-of", "2021-02-14")


def test_unsupported_input_is_a_clear_error(tmp_path: Path, local_model: None) -> None:
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["ingest", "path", str(tmp_path / "empty")])
    assert "No PDF, HTML, TXT or Markdown files" in str(result.exception)
    bad = tmp_path / "x.txt"
    bad.write_text("hello")
    result = runner.invoke(app, ["ingest", "path", str(bad), "--type", "rumour"])
    assert "is not one of news, filing" in str(result.exception)


def _ectsum(path: Path) -> Path:
    records = [
        {
            "ticker": "ACME",
            "quarter": 1,
            "year": 2021,
            "transcript": "Operator: welcome. Revenue for the quarter was $412.7 million, up 8 "
            "percent. Anvil shipments rose to 1.2 million units.",
            "summary": "q1 revenue $412.7 million.\nanvil shipments 1.2 million units.",
        },
        {
            "ticker": "BETA",
            "quarter": 2,
            "year": 2021,
            "transcript": "Good morning. Net sales were $98.4 million and gross margin was 41.3 "
            "percent. We repurchased 2.5 million shares.",
            "summary": "q2 net sales $98.4 million.\ngross margin 41.3 percent.",
        },
    ]
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
    return path


def test_ectsum_ingest_and_eval(tmp_path: Path, local_model: None) -> None:
    file = _ectsum(tmp_path / "mini.jsonl.gz")
    out = " ".join(_invoke("ingest", "ectsum", str(file)).split())
    assert "2 document(s) added" in out
    hit = _invoke("knowledge", "search", "gross margin 41.3 percent", "-k", "1")
    assert "BETA Q2 2021 earnings call" in hit and "transcript BETA 2021-08-14" in hit

    report = json.loads(_invoke("eval", "rag", "--file", str(file), "--json"))
    assert report["documents"] == 2 and report["chunks"] == 2
    modes = {s["mode"]: s for s in report["scores"]}
    assert set(modes) == {"hybrid-convex", "dense", "sparse"}
    assert modes["hybrid-convex"]["queries"] == 4
    assert modes["hybrid-convex"]["recall_at_1"] == 1.0 and modes["sparse"]["mrr"] == 1.0
    assert modes["dense"]["query_p95_ms"] > 0
    table = _invoke("eval", "rag", "--file", str(file), "--modes", "sparse")
    assert "recall@5" in table and "2 transcripts" in table
    # The evaluation used a throw-away collection: the real knowledge base holds 2 calls still.
    assert "2 already present" in " ".join(_invoke("ingest", "ectsum", str(file)).split())


def test_openai_compatible_embeddings(
    tmp_path: Path,
    fake_openai: FakeOpenAI,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EMBED_PROVIDER", "openai")
    monkeypatch.setenv("EMBED_MODEL", "text-embedding-3-small")
    get_settings.cache_clear()
    docs = _folder(tmp_path)
    assert "3 document(s) added" in " ".join(_invoke("ingest", "path", str(docs)).split())
    found = _invoke("knowledge", "search", "widget margins 31.5 percent", "-k", "1")
    assert "notes" in found and "31.5 percent" in found
    embedded = [r for r in fake_openai.requests if r.path.endswith("/embeddings")]
    assert embedded and {r.body["model"] for r in embedded} == {"text-embedding-3-small"}
    from qdrant_client import QdrantClient

    close_all()
    settings = get_settings()
    assert settings.qdrant_path is not None
    client = QdrantClient(path=str(settings.qdrant_path))
    try:
        names = [c.name for c in client.get_collections().collections]
    finally:
        client.close()
    assert names == ["kb_openai-text-embedding-3-small-64-sparse3"]  # one per model and encoder


def test_ingest_history_backfills_decisions_outcomes_and_lessons(local_model: None) -> None:
    from datetime import UTC, datetime

    from orchestrator.cycle_record import CycleRecord, ProposalRecord
    from orchestrator.store.cycles import claim_slot, finish_cycle
    from orchestrator.store.db import get_engine, session_scope
    from orchestrator.store.feedback import LessonRow, add_lesson

    as_of = datetime(2015, 3, 2, 15, 30, tzinfo=UTC)
    with session_scope(get_engine()) as session:
        cycle_id = claim_slot(session, slot="2015-03-02T15:30", mode="backtest", as_of=as_of)
    record = CycleRecord(
        cycle_id=cycle_id,
        slot="2015-03-02T15:30",
        mode="backtest",
        as_of=as_of,
        proposals=[ProposalRecord(symbol="KO", side="sell", quantity=5, verdict="blocked")],
    )
    with session_scope(get_engine()) as session:
        finish_cycle(
            session, cycle_id, status="completed", error="", record=record.model_dump(mode="json")
        )
        add_lesson(session, LessonRow(created_at=as_of, symbol="KO", text="Dividend stocks lag."))
    out = " ".join(_invoke("ingest", "history").split())
    assert "2 document(s) added" in out
    again = " ".join(_invoke("ingest", "history").split())
    assert "0 document(s) added" in again and "2 already present" in again
    found = _invoke("knowledge", "search", "sell KO", "--type", "decision", "--as-of", "2015-03-03")
    assert "Decision SELL KO" in found and "Risk verdict: blocked" in found
    lesson = _invoke("knowledge", "search", "dividend", "--type", "lesson", "-t", "KO")
    assert "Dividend stocks lag." in lesson
