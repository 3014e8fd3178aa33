"""Fixtures for the knowledge base: the real MiniLM model from ../shared/models (loaded and int8-
quantised once per session), local Qdrant storage and SQLite in the test's own folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from orchestrator.analysis.rag import KnowledgeBase
from orchestrator.analysis.rag.embeddings import FastEmbedEmbedder
from orchestrator.analysis.rag.store import close_all
from orchestrator.config import Settings, get_settings
from tests.conftest import SHARED_MODELS

MODEL_DIR = SHARED_MODELS / "all-MiniLM-L6-v2-onnx"
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture(scope="session")
def embedder(tmp_path_factory: pytest.TempPathFactory) -> FastEmbedEmbedder:
    """The product's default encoder (int8, 64 tokens), shared so it is quantised only once."""
    if not MODEL_DIR.is_dir():
        pytest.skip("../shared/models/all-MiniLM-L6-v2-onnx is not beside this checkout")
    return FastEmbedEmbedder(
        MODEL_NAME, model_path=MODEL_DIR, cache_dir=tmp_path_factory.mktemp("models")
    )


@pytest.fixture
def rag_settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Default settings (local Qdrant under VAR_DIR) pointing at the local model copy."""
    if not MODEL_DIR.is_dir():
        pytest.skip("../shared/models/all-MiniLM-L6-v2-onnx is not beside this checkout")
    monkeypatch.setenv("EMBED_MODEL_PATH", str(MODEL_DIR))
    get_settings.cache_clear()
    return get_settings()


@pytest.fixture
def kb(
    rag_settings: Settings, sqlite_engine: Engine, embedder: FastEmbedEmbedder
) -> Iterator[KnowledgeBase]:
    yield KnowledgeBase(rag_settings, sqlite_engine, embedder=embedder)
    close_all()  # release the local folder lock before the next test


def make_pdf(path: Path, pages: list[list[str]], *, title: str = "") -> Path:
    """Write a small valid PDF (Helvetica text lines per page) without a PDF library."""
    objects: list[bytes] = []
    page_ids = [3 + 2 * i for i in range(len(pages))]
    font_id = 3 + 2 * len(pages)
    info_id = font_id + 1
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = " ".join(f"{i} 0 R" for i in page_ids)
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    for number, lines in enumerate(pages):
        content_id = page_ids[number] + 1
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {content_id} 0 R "
            f"/Resources << /Font << /F1 {font_id} 0 R >> >> >>".encode()
        )
        ops = ["BT", "/F1 10 Tf", "14 TL", "40 760 Td"]
        for line in lines:
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({escaped}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        objects.append(
            b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream"
        )
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    objects.append(f"<< /Title ({title}) >>".encode())
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info {info_id} 0 R >>\n"
        f"startxref\n{xref}\n%%EOF\n"
    ).encode()
    path.write_bytes(bytes(out))
    return path
