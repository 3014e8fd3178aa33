"""The offline lexicon: normalisation used for de-duplication, negation, finance rules, and
determinism."""

from __future__ import annotations

import pytest

from orchestrator.analysis.lexicon import (
    LexiconModel,
    default_lexicon,
    normalise_text,
    rule_score,
    tokenize,
)


def test_normalise_text_folds_retweets_urls_mentions_and_cashtags() -> None:
    a = normalise_text("RT @trader: $ AAPL beats estimates https://t.co/x1")
    b = normalise_text("$aapl  BEATS estimates @someone")
    assert a == b == "$aapl beats estimates"


def test_negation_scope_marks_the_next_words_until_punctuation() -> None:
    tokens = tokenize("Apple did not beat estimates, shares rise")
    assert "not_beat" in tokens and "not_estimates" in tokens
    assert "rise" in tokens and "not_rise" not in tokens
    assert "<ticker>" in tokenize("$AAPL up 5%") and "<pct>" in tokenize("$AAPL up 5%")


@pytest.mark.parametrize(
    ("text", "sign"),
    [
        ("Acme beats estimates", 1),
        ("Acme misses estimates", -1),
        ("Acme downgraded to sell", -1),
        ("Acme raises guidance", 1),
        ("Acme guidance cut", -1),
        ("Acme did not beat estimates", -1),  # negation flips the rule
        ("Acme shares fall sharply", -1),
    ],
)
def test_finance_rules_have_the_expected_sign(text: str, sign: int) -> None:
    assert rule_score(text) * sign > 0


def test_intensifiers_scale_and_phrases_beat_single_words() -> None:
    assert rule_score("Acme shares fall sharply") == pytest.approx(-1.0)
    assert rule_score("Acme sharply falls") == pytest.approx(-1.5)
    # "guidance cut" is one -1.5 phrase, not "cut" counted on its own.
    assert rule_score("guidance cut") == pytest.approx(-1.5)


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Apple beats earnings estimates and raises guidance", "positive"),
        ("Goldman downgrades Tesla to sell, cuts price target", "negative"),
        ("Apple to hold its annual shareholder meeting on March 10", "neutral"),
    ],
)
def test_shipped_model_labels_clear_headlines(text: str, label: str) -> None:
    result = default_lexicon().classify(text)
    assert result.label == label
    assert -1 <= result.score <= 1
    assert default_lexicon().classify(text) == result  # deterministic


def test_model_file_with_wrong_classes_is_refused(tmp_path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"classes": ["pos", "neg"], "log_prior": [], "terms": {}, "rule_weight": 0}')
    with pytest.raises(ValueError, match="classes"):
        LexiconModel.from_file(path)
