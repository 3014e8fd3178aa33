"""Pure text logic of the knowledge base: section-aware chunking, the number-keeping sparse
encoder and the fusion of dense and sparse rankings."""

from __future__ import annotations

import zlib

import pytest

from orchestrator.analysis.rag.chunking import chunk_text, split_sections
from orchestrator.analysis.rag.fusion import RRF_K, fuse
from orchestrator.analysis.rag.local_index import Candidate
from orchestrator.analysis.rag.sparse import (
    TITLE_WEIGHT,
    encode_document,
    encode_query,
    token_id,
    tokenize,
)

FILING = """ACME CORP ANNUAL REPORT

PART I

Item 1. Business
{business}

Item 1A. Risk Factors
{risks}

Item 7. Management's Discussion and Analysis
{mdna}
"""


def _sentences(topic: str, count: int) -> str:
    return " ".join(
        f"The {topic} sentence number {i} explains one more detail." for i in range(count)
    )


def test_filing_chunks_never_straddle_sections() -> None:
    text = FILING.format(
        business=_sentences("business", 60),
        risks=_sentences("risk", 5),
        mdna=_sentences("revenue", 80),
    )
    chunks = chunk_text(text, target_words=120, overlap_words=20)
    sections = [c.section for c in chunks]
    assert "Item 1A. Risk Factors" in sections
    for chunk in chunks:
        topic = {"Item 1. Business": "business", "Item 1A. Risk Factors": "risk"}.get(
            chunk.section, "revenue"
        )
        assert all(
            f"The {other} " not in chunk.text for other in {"business", "risk", "revenue"} - {topic}
        )
        assert len(chunk.text.split()) <= 120 + 120 // 4  # a short tail may merge into the last
    # Consecutive chunks of one section overlap, so a fact cut at a boundary is whole in one.
    business = [c for c in chunks if c.section == "Item 1. Business"]
    assert len(business) >= 4
    assert business[0].text.split()[-20:] == business[1].text.split()[:20]
    assert [c.index for c in chunks] == list(range(len(chunks)))


def test_markdown_headings_and_empty_text() -> None:
    sections = split_sections("intro line\n\n# Results\nRevenue grew.\n\n## Outlook\nFlat.")
    assert [title for title, _ in sections] == ["", "Results", "Outlook"]
    assert chunk_text("   \n\n ") == []


def test_sparse_tokens_keep_figures() -> None:
    tokens = tokenize("Q3 revenues rose 11.1% to $481.1 million; EPS $1,234.50 in FY2021.")
    assert {"q3", "revenue", "11.1", "percent", "481.1", "million", "1234.5", "fy", "2021"} <= set(
        tokens
    )
    assert "to" not in tokens and "in" not in tokens
    # The same figure written two ways is one token; a different figure is another.
    assert tokenize("$1,234.5")[0] == tokenize("1234.50")[0] != tokenize("1243.5")[0]


def _shared(a: str, b: str) -> set[str]:
    return set(tokenize(a)) & set(tokenize(b))


def test_periods_are_written_one_way() -> None:
    # A summary says "q3" and "fy"; the call says "third quarter" and "fiscal 2021".
    assert "q3" in _shared("q3 revenue", "our third-quarter revenue")
    assert "q4" in _shared("Q4 EPS", "in the 4th quarter EPS")
    assert "h2" in _shared("H2 margins", "second half margins")
    assert {"fy", "2021"} <= _shared("sees FY21 sales", "for fiscal 2021 we expect sales")
    assert "fy" in _shared("sees fy revenue", "full-year revenue guidance")
    assert "2025" not in tokenize("fiscal 25 stores opened")  # a figure, not a year


def test_a_figure_matches_its_rounded_form_in_another_unit() -> None:
    summary = "revenue of $891.7 million"
    assert any(t.startswith("~") for t in _shared(summary, "revenue was $892 million"))
    assert any(t.startswith("~") for t in _shared(summary, "revenue of $0.892 billion"))
    assert not any(t.startswith("~") for t in _shared(summary, "revenue was $981.7 million"))
    assert any(t.startswith("~") for t in _shared("$3.8 bln", "$3,800 million"))


def test_a_figure_near_its_words_is_a_token_of_its_own() -> None:
    near = "Fourth quarter earnings per share were $0.45."
    far = "Earnings per share rose in the fourth quarter. We raised the dividend to $0.45."
    query = "q4 earnings per share $0.45"
    assert {"0.45|q4", "0.45|earning"} <= _shared(query, near)
    assert not {t for t in _shared(query, far) if "|" in t}  # other sentence: no pair
    indices, values = encode_query(query)
    weights = dict(zip(indices, values, strict=True))
    assert weights[token_id("0.45|q4")] < weights[token_id("0.45")]  # pairs weigh less


def test_sparse_weights_saturate_and_ids_are_stable() -> None:
    indices, values = encode_document("revenue revenue revenue growth")
    weights = dict(zip(indices, values, strict=True))
    assert weights[token_id("revenue")] > weights[token_id("growth")]
    assert weights[token_id("revenue")] < 3 * weights[token_id("growth")]  # BM25 saturation
    # CRC-32: the same id in every process, so stored sparse vectors stay valid after a restart.
    assert token_id("revenue") == zlib.crc32(b"revenue")
    query = dict(zip(*encode_query("revenue revenue; 481.1"), strict=True))
    body = {token_id("revenue"), token_id("481.1")}
    assert {i: w for i, w in query.items() if i in body} == dict.fromkeys(body, 1.0)
    assert encode_document("") == ([], [])


def test_the_title_is_a_field_of_every_chunk() -> None:
    body = "Earnings per share were $0.45."
    plain = dict(zip(*encode_document(body), strict=True))
    titled = dict(zip(*encode_document(body, title="ACME Q4 2020 earnings call"), strict=True))
    for token in ("t:acme", "t:q4", "t:2020", "t:earning"):
        assert token_id(token) in titled and token_id(token) not in plain
    assert token_id("q4") not in titled  # the body never said it
    # The title does not lengthen the chunk: body weights are the same with or without it.
    assert {i: w for i, w in titled.items() if i in plain} == plain
    query = dict(zip(*encode_query("q4 earnings per share $0.45"), strict=True))
    assert query[token_id("t:q4")] == TITLE_WEIGHT
    assert query[token_id("q4")] == 1.0
    assert token_id("t:0.45|q4") not in query  # pairs stay in the body field


def test_convex_fusion_normalises_each_list() -> None:
    dense = [Candidate("a", 0.90), Candidate("b", 0.80), Candidate("c", 0.70)]
    sparse = [Candidate("c", 30.0), Candidate("b", 20.0), Candidate("d", 10.0)]
    fused = fuse(dense, sparse, top_k=4, alpha=0.3)
    scores = {c.point_id: c.score for c in fused}
    # c: 0.3 * 0 + 0.7 * 1; b: 0.3 * 0.5 + 0.7 * 0.5; a: 0.3 * 1; d: 0.7 * 0
    assert scores == pytest.approx({"c": 0.7, "b": 0.5, "a": 0.3, "d": 0.0})
    assert [c.point_id for c in fused] == ["c", "b", "a", "d"]
    assert [c.point_id for c in fuse(dense, sparse, top_k=4, alpha=0.9)][0] == "a"


def test_rrf_fusion_uses_ranks_only() -> None:
    dense = [Candidate("a", 0.99), Candidate("b", 0.10)]
    sparse = [Candidate("b", 1000.0), Candidate("c", 1.0)]
    fused = fuse(dense, sparse, top_k=2, method="rrf")
    assert fused[0].point_id == "b"
    assert fused[0].score == pytest.approx(1 / (RRF_K + 2) + 1 / (RRF_K + 1))
    assert len(fused) == 2
