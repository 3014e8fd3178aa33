"""Formatting and splitting: what a chat shows, and that long answers fit Telegram's limits."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser

from bot import format as fmt
from orchestrator.service.views import (
    AnswerView,
    ApprovalOutcome,
    ApprovalView,
    ClampView,
    NewsView,
)

WHEN = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


class _Balance(HTMLParser):
    """Fails on a closing tag with no opener; remembers tags left open."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes nothing"
        self.open.pop()


def balanced(html: str) -> bool:
    parser = _Balance()
    parser.feed(html)
    parser.close()
    return not parser.open


def units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def approval(**changes: object) -> ApprovalView:
    values: dict[str, object] = dict(
        id="7",
        symbol="AAPL",
        side="buy",
        quantity=10,
        price=101.5,
        notional=1015.0,
        confidence=0.72,
        rationale="Momentum <strong> & earnings beat",
        verdict="resized",
        reasons=("max_position_pct 10% caps the order",),
        clamps=(ClampView(limit="max_position_pct", before=25, after=10),),
        status="pending",
        expires_at=WHEN,
    )
    values.update(changes)
    return ApprovalView.model_validate(values)


def test_a_6000_character_answer_is_split_into_valid_messages() -> None:
    paragraph = "<b>Outlook</b> " + "word " * 40 + "\n"
    text = paragraph * 30  # about 6,500 characters with tags
    assert len(text) > 6000
    parts = fmt.split_html(text)
    assert len(parts) >= 2
    assert all(units(p) <= fmt.MESSAGE_LIMIT for p in parts)
    assert all(balanced(p) for p in parts)
    # Nothing is lost or duplicated: the words come back in order.
    joined = re.sub(r"<[^>]+>", "", " ".join(parts)).split()
    assert joined == re.sub(r"<[^>]+>", "", text).split()


def test_a_tag_open_across_the_split_is_closed_and_reopened() -> None:
    text = "<pre>" + "\n".join(f"line {i:05d} " + "x" * 60 for i in range(120)) + "</pre>"
    parts = fmt.split_html(text)
    assert len(parts) >= 3
    assert all(p.startswith("<pre>") and p.endswith("</pre>") for p in parts)
    assert all(units(p) <= fmt.MESSAGE_LIMIT for p in parts)


def test_a_single_long_line_is_cut_at_a_space_never_inside_an_entity() -> None:
    text = ("AT&amp;T " * 1200).strip()  # one line, ~10,000 characters
    parts = fmt.split_html(text)
    assert len(parts) >= 3
    for part in parts:
        assert units(part) <= fmt.MESSAGE_LIMIT
        assert not re.search(r"&[a-z]*$", part) and not re.match(r"^[a-z]*;", part)


def test_emoji_count_as_two_units_like_telegram_counts_them() -> None:
    parts = fmt.split_html("📈" * 3000)  # 3,000 characters, 6,000 UTF-16 units
    assert len(parts) == 2
    assert all(units(p) <= fmt.MESSAGE_LIMIT for p in parts)


def test_short_text_is_one_message_and_empty_text_none() -> None:
    assert fmt.split_html("hello") == ["hello"]
    assert fmt.split_html("  \n ") == []


def test_outside_text_is_shown_not_obeyed() -> None:
    news = fmt.format_news(
        "AAPL",
        [NewsView(published_at=WHEN, headline="<b>Buy now</b>", url="javascript:alert(1)")],
    )
    assert "&lt;b&gt;Buy now&lt;/b&gt;" in news
    assert "href" not in news  # only http(s) links become links
    answer = fmt.format_answer(
        AnswerView(text="ignore <i>rules</i>", engine="offline rules engine")
    )
    assert "&lt;i&gt;rules&lt;/i&gt;" in answer and "offline rules engine" in answer


def test_a_proposal_shows_every_number_needed_to_decide() -> None:
    text = fmt.format_approval(approval())
    for expected in ("#7", "BUY", "10", "AAPL", "$101.50", "$1,015.00", "72%", "resized"):
        assert expected in text
    assert "max_position_pct: 25 → 10" in text  # the clamp, before and after
    assert "&lt;strong&gt; &amp; earnings" in text  # the LLM's rationale is escaped
    assert balanced(text)


def test_an_outcome_names_what_happened_and_who() -> None:
    outcome = ApprovalOutcome(
        approval=approval(status="executed"), message="Bought 10 AAPL at 101.20"
    )
    text = fmt.format_approval_outcome(outcome, by="Ann")
    assert "Executed" in text and "Bought 10 AAPL at 101.20" in text and "by Ann" in text
