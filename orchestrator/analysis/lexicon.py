"""The offline sentiment engine: a finance-aware lexicon model, deterministic and fast.

How an item is scored (documented in docs/benchmarks/analysis.md):
1. `normalise_text` lower-cases, strips URLs, "rt @user" prefixes and @mentions, and joins cashtag
   spacing ("$ aapl" -> "$aapl"); the same text is used to de-duplicate items.
2. `tokenize` splits words, maps cashtags to `<ticker>` and numbers to `<num>` / `<pct>`, and marks
   every word inside a negation scope (up to `NEGATION_SCOPE` words after "not", "no", "n't",
   "never", "fails to", ... until punctuation) with a `not_` prefix. Unigrams and bigrams are used.
3. Learned term weights: per-class smoothed log-probabilities (multinomial naive Bayes) of each
   unigram/bigram, estimated from the TRAIN split of the Twitter Financial News set only by
   `bench/analysis_build_lexicon.py` and shipped in `data/sentiment_lexicon.json`.
4. Hand-written finance rules (`FINANCE_TERMS`): phrases such as "beats", "misses", "downgrade",
   "raises guidance", "guidance cut" carry a polarity; intensifiers ("sharply", "record") scale it
   and a negation scope flips it. Their sum `h` shifts the class scores by `rule_weight * h`
   (positive up, negative down); `rule_weight` was chosen by cross-validation on TRAIN.
5. The class with the highest score wins; the item score in [-1, 1] is P(positive) - P(negative).
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from orchestrator.domain import SentimentLabel

LEXICON_PATH = Path(__file__).with_name("data") / "sentiment_lexicon.json"
CLASSES: tuple[SentimentLabel, ...] = ("negative", "positive", "neutral")
# Three words covers "not expected to beat" / "no longer sees growth" without leaking into the
# next clause; punctuation also ends the scope.
NEGATION_SCOPE = 3

_URL = re.compile(r"https?://\S+|www\.\S+")
_RETWEET = re.compile(r"^\s*rt\s+@\w+:?\s*")
_MENTION = re.compile(r"@\w+")
_CASHTAG_SPACE = re.compile(r"\$\s+([a-z])")
_SPACES = re.compile(r"\s+")
_TOKEN = re.compile(r"\$[a-z][a-z.]*|[a-z][a-z'&\-]*|\d+(?:[.,]\d+)*%?|[.!?;:,]")
_NEGATORS = frozenset(
    {"not", "no", "never", "nor", "without", "n't", "cannot", "neither", "hardly", "fails", "fail"}
)
_NEGATOR_SUFFIX = "n't"
_SCOPE_END = frozenset({".", "!", "?", ";", ":", ",", "but", "however", "while"})

# Finance phrases and their polarity (+ good for the stock, - bad). Multi-word phrases are matched
# on the token sequence before single words, so "guidance cut" is not read as two separate words.
FINANCE_TERMS: dict[tuple[str, ...], float] = {
    **{
        (w,): 1.0
        for w in (
            "beat beats tops topped surpass surpasses exceeds exceeded upgrade upgrades upgraded "
            "outperform overweight bullish soar soars soared surge surges surged jump jumps jumped "
            "rally rallies rallied gain gains climbs climbed rises rose boost boosts raises raised "
            "record strong stronger profit profitable growth buyback dividend approval approved "
            "wins won rebound rebounds recovers higher upbeat optimistic"
        ).split()
    },
    **{
        (w,): -1.0
        for w in (
            "miss misses missed downgrade downgrades downgraded underperform underweight bearish "
            "plunge plunges plunged tumble tumbles tumbled sink sinks sank slump slumps slumped "
            "drop drops dropped fall falls fell decline declines declined slides slid loss losses "
            "lower weak weaker warns warning lawsuit probe investigation fraud bankruptcy default "
            "layoffs layoff recall halted suspends delisted cuts cut slashes slashed trimmed "
            "lowers lowered pulls concerns fears selloff sell-off crash"
        ).split()
    },
    ("raises", "guidance"): 1.5,
    ("raised", "guidance"): 1.5,
    ("raises", "outlook"): 1.5,
    ("boosts", "outlook"): 1.5,
    ("price", "target", "raised"): 1.5,
    ("target", "raised"): 1.5,
    ("upgraded", "to", "buy"): 2.0,
    ("upgrades", "to", "buy"): 2.0,
    ("better", "than", "expected"): 1.5,
    ("all-time", "high"): 1.5,
    ("record", "high"): 1.5,
    ("guidance", "cut"): -1.5,
    ("cuts", "guidance"): -1.5,
    ("lowers", "guidance"): -1.5,
    ("cuts", "outlook"): -1.5,
    ("pulls", "outlook"): -1.5,
    ("target", "cut"): -1.5,
    ("target", "lowered"): -1.5,
    ("cut", "to", "sell"): -2.0,
    ("cuts", "to", "sell"): -2.0,
    ("cuts", "to", "hold"): -1.0,
    ("downgraded", "to", "sell"): -2.0,
    ("worse", "than", "expected"): -1.5,
    ("profit", "warning"): -2.0,
    ("going", "concern"): -2.0,
}
_MAX_PHRASE = max(len(phrase) for phrase in FINANCE_TERMS)
INTENSIFIERS: dict[str, float] = {
    "sharply": 1.5,
    "significantly": 1.5,
    "strongly": 1.5,
    "massive": 1.5,
    "huge": 1.5,
    "big": 1.25,
    "slightly": 0.5,
    "modestly": 0.5,
}


@dataclass(frozen=True)
class ItemSentiment:
    """One item's label and score in [-1, 1] (P(positive) - P(negative))."""

    label: SentimentLabel
    score: float


def normalise_text(text: str) -> str:
    """The form used to recognise repeats: lower case, no URLs, no "rt @user", joined cashtags."""
    text = text.lower()
    text = _URL.sub(" ", text)
    text = _RETWEET.sub("", text)
    text = _MENTION.sub(" ", text)
    text = _CASHTAG_SPACE.sub(r"$\1", text)
    return _SPACES.sub(" ", text).strip()


def _words(normalised: str) -> list[str]:
    words: list[str] = []
    for raw in _TOKEN.findall(normalised):
        if raw.startswith("$"):
            words.append("<ticker>")
        elif raw[0].isdigit():
            words.append("<pct>" if raw.endswith("%") else "<num>")
        elif raw.endswith(_NEGATOR_SUFFIX) and raw != _NEGATOR_SUFFIX:
            words.extend((raw[: -len(_NEGATOR_SUFFIX)], _NEGATOR_SUFFIX))
        else:
            words.append(raw)
    return words


def _negation_marks(words: list[str]) -> list[bool]:
    """For each word, whether it sits inside a negation scope."""
    marks = [False] * len(words)
    remaining = 0
    for index, word in enumerate(words):
        if word in _SCOPE_END:
            remaining = 0
        elif word in _NEGATORS:
            remaining = NEGATION_SCOPE
        elif remaining:
            marks[index] = True
            remaining -= 1
    return marks


def tokenize(text: str) -> list[str]:
    """Unigram and bigram features of `text`; negated words are prefixed `not_`."""
    words = _words(normalise_text(text))
    marks = _negation_marks(words)
    unigrams = [
        f"not_{word}" if marked else word
        for word, marked in zip(words, marks, strict=True)
        if word not in _SCOPE_END or word in ("but", "however", "while")
    ]
    return unigrams + [f"{a} {b}" for a, b in zip(unigrams, unigrams[1:], strict=False)]


def rule_score(text: str) -> float:
    """Sum of the finance rules: phrase polarity x intensifier, flipped when negated."""
    words = _words(normalise_text(text))
    marks = _negation_marks(words)
    total, index = 0.0, 0
    while index < len(words):
        for size in range(min(_MAX_PHRASE, len(words) - index), 0, -1):
            polarity = FINANCE_TERMS.get(tuple(words[index : index + size]))
            if polarity is not None:
                before = words[index - 1] if index else ""
                polarity *= INTENSIFIERS.get(before, 1.0)
                total += -polarity if marks[index] else polarity
                index += size
                break
        else:
            index += 1
    return total


class LexiconModel:
    """Learned term weights plus finance rules. Pure, deterministic, thread-safe (read-only)."""

    engine = "lexicon-v1"

    def __init__(
        self,
        log_prior: list[float],
        term_weights: dict[str, list[float]],
        rule_weight: float,
    ) -> None:
        self.log_prior = log_prior
        self.term_weights = term_weights
        self.rule_weight = rule_weight
        # Headlines repeat within and across cycles (the screen scores a ticker's news, then
        # its analysis may again); the answer depends on the text alone, so remember it.
        self.classify = functools.lru_cache(maxsize=100_000)(self._classify)

    @classmethod
    def from_file(cls, path: Path = LEXICON_PATH) -> LexiconModel:
        """Load the shipped weights; raises FileNotFoundError / ValueError on a missing/bad file."""
        payload = json.loads(path.read_text())
        if tuple(payload["classes"]) != CLASSES:
            raise ValueError(f"{path}: classes {payload['classes']} are not {CLASSES}")
        return cls(payload["log_prior"], payload["terms"], float(payload["rule_weight"]))

    def class_scores(self, text: str) -> list[float]:
        """Unnormalised log-scores of negative, positive, neutral."""
        scores = list(self.log_prior)
        for term in tokenize(text):
            weights = self.term_weights.get(term)
            if weights is not None:
                for index in range(3):
                    scores[index] += weights[index]
        shift = self.rule_weight * rule_score(text)
        scores[0] -= shift
        scores[1] += shift
        return scores

    def _classify(self, text: str) -> ItemSentiment:
        scores = self.class_scores(text)
        top = max(scores)
        exps = [math.exp(score - top) for score in scores]
        total = sum(exps)
        best = max(range(3), key=lambda index: scores[index])
        return ItemSentiment(CLASSES[best], round((exps[1] - exps[0]) / total, 4))


@functools.cache
def default_lexicon() -> LexiconModel:
    """The shipped model, loaded once per process."""
    return LexiconModel.from_file()
