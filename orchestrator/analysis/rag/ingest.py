"""Readers that turn outside content into `SourceDocument`s ready for the knowledge base.

Files: PDF (pypdf), HTML (beautifulsoup4), TXT and Markdown; folders recursively. The ECTSum JSONL
layout (one earnings call a line: ticker, quarter, year, transcript, summary). News items from the
data providers. The bot's own decisions, outcomes and lessons as plain records.

Point-in-time: every document carries a tz-aware `published_at`; a retrieval for a run at `as_of`
only sees documents published at or before it. Where the true date is unknown (a file on disk)
the file's modification time is used, unless the caller passes a date.

Failure contract: unreadable or unsupported files raise `DataError` naming the file; a JSONL line
that is not an ECTSum record raises `DataError` with its line number.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from orchestrator.domain import NewsItem
from orchestrator.errors import DataError

DOC_TYPES = ("news", "filing", "transcript", "decision", "outcome", "lesson", "document")
SUPPORTED_SUFFIXES = (".pdf", ".html", ".htm", ".txt", ".md", ".markdown")

# Earnings calls happen weeks after the quarter ends; the ECTSum records carry only the fiscal
# quarter. Dating a call 45 days after calendar quarter end keeps it (almost always) AFTER the real
# call, so a backtest never sees it early; the price is that it shows up a little late.
ECTSUM_CALL_LAG = timedelta(days=45)


@dataclass(frozen=True)
class SourceDocument:
    text: str
    source: str
    title: str
    doc_type: str
    published_at: datetime
    tickers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.published_at.tzinfo is None:
            raise ValueError("published_at must be tz-aware")
        if self.doc_type not in DOC_TYPES:
            raise ValueError(f"doc_type must be one of {', '.join(DOC_TYPES)}")

    @property
    def content_hash(self) -> str:
        """sha256 of the whitespace-normalised text: the de-duplication key."""
        normalised = " ".join(self.text.split())
        return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class EctsumRecord:
    document: SourceDocument
    summary_lines: tuple[str, ...] = field(default=())


def _guess_doc_type(path: Path) -> str:
    name = path.name.lower()
    if re.search(r"10-?[kq]|8-?k|annual.report|filing", name):
        return "filing"
    if "transcript" in name or "earnings-call" in name:
        return "transcript"
    return "document"


def read_text_file(path: Path) -> tuple[str, str]:
    """(title, text) of a supported file."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".pdf":
            from pypdf import PdfReader

            reader = PdfReader(str(path))
            pages = [page.extract_text() or "" for page in reader.pages]
            meta_title = reader.metadata.title if reader.metadata else None
            return (meta_title or path.stem), "\n\n".join(pages)
        if suffix in (".html", ".htm"):
            from bs4 import BeautifulSoup

            soup = BeautifulSoup(path.read_bytes(), "html.parser")
            for tag in soup(["script", "style", "noscript"]):
                tag.decompose()
            title = soup.title.get_text(strip=True) if soup.title else path.stem
            for block in soup.find_all(["p", "div", "li", "h1", "h2", "h3", "h4", "tr", "br"]):
                block.append("\n")
            return title, soup.get_text()
        if suffix in (".txt", ".md", ".markdown"):
            return path.stem, path.read_text(encoding="utf-8", errors="replace")
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"Cannot read {path}: {exc}") from exc
    raise DataError(f"Unsupported file type {path.suffix!r} for {path}; use PDF, HTML, TXT or MD")


def read_file(
    path: Path,
    *,
    tickers: tuple[str, ...] = (),
    doc_type: str | None = None,
    published_at: datetime | None = None,
) -> SourceDocument:
    """One file as a document; the date defaults to the file's modification time."""
    title, text = read_text_file(path)
    when = published_at or datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    return SourceDocument(
        text=text,
        source=str(path.resolve()),
        title=title,
        doc_type=doc_type or _guess_doc_type(path),
        published_at=when,
        tickers=tuple(t.upper() for t in tickers),
    )


def iter_files(path: Path) -> list[Path]:
    """The supported files at `path` (a file, or a folder searched recursively), sorted."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DataError(f"{path} does not exist")
    return sorted(
        p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES
    )


def ectsum_published_at(year: int, quarter: int) -> datetime:
    """The assumed publication time of an ECTSum call (see ECTSUM_CALL_LAG)."""
    quarter_end = date(year, 3 * quarter, 1) + timedelta(days=31)
    quarter_end = quarter_end.replace(day=1) - timedelta(days=1)
    return datetime.combine(quarter_end + ECTSUM_CALL_LAG, time(21, 0), tzinfo=UTC)


def read_ectsum(path: Path, *, limit: int | None = None) -> Iterator[EctsumRecord]:
    """ECTSum records from a .jsonl or .jsonl.gz file, in file order."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        handle = opener(path, "rt", encoding="utf-8")
    except OSError as exc:
        raise DataError(f"Cannot open {path}: {exc}") from exc
    with handle:
        for number, line in enumerate(handle, start=1):
            if limit is not None and number > limit:
                return
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
                ticker = str(raw["ticker"]).upper()
                quarter, year = int(raw["quarter"]), int(raw["year"])
                transcript, summary = str(raw["transcript"]), str(raw.get("summary", ""))
            except (ValueError, KeyError, TypeError) as exc:
                raise DataError(f"{path} line {number} is not an ECTSum record: {exc}") from exc
            document = SourceDocument(
                text=transcript,
                source=f"ectsum:{path.name}#{number}",
                title=f"{ticker} Q{quarter} {year} earnings call",
                doc_type="transcript",
                published_at=ectsum_published_at(year, quarter),
                tickers=(ticker,),
            )
            lines = tuple(s.strip() for s in summary.splitlines() if s.strip())
            yield EctsumRecord(document, lines)


def news_document(item: NewsItem) -> SourceDocument:
    """A provider's news item (headline and summary) as a document."""
    text = item.headline if not item.summary else f"{item.headline}\n\n{item.summary}"
    return SourceDocument(
        text=text,
        source=item.url or f"news:{item.source}:{item.id}",
        title=item.headline,
        doc_type="news",
        published_at=item.published_at,
        tickers=tuple(s.upper() for s in item.symbols),
    )


def record_document(
    kind: str,
    text: str,
    *,
    tickers: tuple[str, ...],
    at: datetime,
    title: str = "",
    source: str = "",
) -> SourceDocument:
    """One of the bot's own records: kind is decision, outcome or lesson."""
    if kind not in ("decision", "outcome", "lesson"):
        raise ValueError("kind must be decision, outcome or lesson")
    return SourceDocument(
        text=text,
        source=source or f"{kind}:{at.isoformat()}",
        title=title or f"{kind} {', '.join(tickers)} {at.date().isoformat()}",
        doc_type=kind,
        published_at=at,
        tickers=tuple(t.upper() for t in tickers),
    )
