"""Section- and paragraph-aware chunking for long filings, transcripts and news.

A 10-K is hundreds of pages of "Item 7. Management's Discussion..." sections; a chunk that straddles
two sections mixes unrelated numbers. So the text is first split at headings (SEC "Item 1A." /
"PART II" lines, markdown ``#`` headings, short all-caps lines), then each section is packed
paragraph by paragraph into chunks of about `target_words` words. A paragraph longer than that is
split at sentence ends; consecutive chunks of one section share `overlap_words` words so a fact
cut at a boundary still appears whole in one of them. Each chunk is prefixed by nothing: its
section heading goes into the metadata, not the text, so the sparse vector is not skewed by it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TARGET_WORDS = 200  # ~260 word pieces: one dense encoder window covers the chunk's head
OVERLAP_WORDS = 30  # enough to keep a sentence cut at a boundary whole in one chunk

_HEADING = re.compile(
    r"""^\s*(
        \#{1,6}\s+\S.*                                   # markdown
      | (?:PART|Part)\s+[IVX]+\b.{0,80}                  # PART II
      | (?:ITEM|Item)\s+\d+[A-Z]?\s*[.:\-].{0,120}       # Item 7. / Item 1A:
      | [A-Z][A-Z0-9 ,&'\-]{3,80}                        # SHORT ALL-CAPS LINE
    )\s*$""",
    re.VERBOSE,
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


@dataclass(frozen=True)
class Chunk:
    text: str
    section: str
    index: int


def split_sections(text: str) -> list[tuple[str, str]]:
    """(heading, body) pairs in order; text before the first heading has heading ""."""
    sections: list[tuple[str, list[str]]] = [("", [])]
    for line in text.splitlines():
        if _HEADING.match(line) and len(line.split()) <= 20:
            sections.append((line.strip().lstrip("#").strip(), []))
        else:
            sections[-1][1].append(line)
    return [(title, "\n".join(lines)) for title, lines in sections if "".join(lines).strip()]


def _paragraphs(body: str) -> list[str]:
    blocks = [block.strip() for block in re.split(r"\n\s*\n", body)]
    # A transcript is one paragraph per line; a PDF often breaks lines mid-sentence. Treat a
    # block of short lines as one paragraph, a block of long lines as one paragraph per line.
    out: list[str] = []
    for block in blocks:
        if not block:
            continue
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        if len(lines) > 1 and all(len(line.split()) >= 25 for line in lines):
            out.extend(lines)
        else:
            out.append(" ".join(lines))
    return out


def _pieces(paragraph: str, target: int) -> list[list[str]]:
    words = paragraph.split()
    if len(words) <= target:
        return [words]
    pieces: list[list[str]] = []
    current: list[str] = []
    for sentence in _SENTENCE_END.split(paragraph):
        sentence_words = sentence.split()
        if current and len(current) + len(sentence_words) > target:
            pieces.append(current)
            current = []
        while len(sentence_words) > target:  # one giant "sentence" (tables, lists)
            pieces.append(sentence_words[:target])
            sentence_words = sentence_words[target:]
        current.extend(sentence_words)
    if current:
        pieces.append(current)
    return pieces


def chunk_text(
    text: str, *, target_words: int = TARGET_WORDS, overlap_words: int = OVERLAP_WORDS
) -> list[Chunk]:
    """Chunks of about `target_words` words that respect sections and paragraphs.

    Never fails: empty or whitespace-only text gives no chunks.
    """
    chunks: list[Chunk] = []
    for heading, body in split_sections(text):
        window: list[str] = []
        for paragraph in _paragraphs(body):
            for piece in _pieces(paragraph, target_words):
                if window and len(window) + len(piece) > target_words:
                    chunks.append(Chunk(" ".join(window), heading, len(chunks)))
                    window = window[-overlap_words:] if overlap_words else []
                window = window + piece
        # A short tail merges into the previous chunk of its section rather than standing alone.
        if window:
            previous = chunks[-1] if chunks else None
            if (
                previous is not None
                and previous.section == heading
                and len(window) < target_words // 4
            ):
                merged = previous.text + " " + " ".join(window[overlap_words:])
                chunks[-1] = Chunk(merged, heading, previous.index)
            else:
                chunks.append(Chunk(" ".join(window), heading, len(chunks)))
    return chunks
