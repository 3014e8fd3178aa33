"""BM25-style sparse vectors computed locally, keeping the number tokens finance text lives on.

Dense sentence embeddings blur "$481.1 million" and "$418.1 million" into the same point; an
earnings question is mostly such figures. This encoder turns text into Qdrant sparse vectors:

* tokens are lower-cased words and NUMBERS: "$1,234.5" -> "1234.5", "23%" -> "23" + "percent";
  English stop words are dropped, a light plural/possessive strip folds "revenues" into
  "revenue";
* periods are written one way: "third quarter", "3rd-quarter", "Q3" -> "q3"; "first half" ->
  "h1"; "fiscal year", "full-year", "fiscal" -> "fy"; "FY21" / "FY2021" -> "fy" + "2021". A
  question says "q3 revenue", the call says "third-quarter revenue";
* a figure with a scale word also gets its value to three significant digits, "~8.92e8" for
  "$891.7 million", "$892 million" and "$0.892 billion" alike: summaries quote the press release,
  the call rounds or changes the unit;
* PROXIMITY tokens "figure|word" pair each figure with the words (and later figures) at most
  `PAIR_WINDOW` tokens away in the same sentence: "$0.45" next to "q4" and "earnings" is rarer,
  and much more telling, than the three tokens anywhere in a 200-word chunk. A query's pair
  tokens weigh `PAIR_WEIGHT` (they restate evidence its single tokens already carry);
* a TITLE FIELD (version 3): every plain token of the document's title ("VPG Q1 2020 earnings
  call") is added to each of its chunks as ``t:<token>``, and every plain query token is also
  looked up as ``t:<token>`` with weight `TITLE_WEIGHT`; the field keeps its own document
  frequencies (BM25F-like), so "t:earning" in every transcript weighs nothing while "t:q1"
  tells the first-quarter calls apart. A chunk rarely restates its call's quarter or ticker;
  its title always does. Chunk length (the BM25 norm) counts the body tokens only;
* a token id is the CRC-32 of the token (stable across processes and machines, no vocabulary to
  store; collisions among 2^32 ids are negligible for our corpus sizes);
* a document weight is BM25's saturated term frequency
  ``tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / AVG_LEN))``; a query weight is 1 per distinct
  token (`PAIR_WEIGHT` for a pair). The IDF factor is applied at search time by Qdrant
  (``Modifier.IDF`` on the sparse vector, server or local) or by the local numpy index, from the
  collection's own document frequencies, so the score of a chunk is exactly its BM25 score.

Every choice above was measured on ECTSum (each summary line must find its own call among 1,681;
`bench/rag_lexical_lab.py`, `bench/rag_fusion_lab.py`, docs/benchmarks/rag.md): recall@5 0.635
before, 0.795 with the body rules, 0.810 with the title field. Stored vectors depend on these
rules, so `VERSION` is part of the collection name: a collection written by an older encoder is
never queried with the new one.

Both batch functions have llama-index's ``SparseEncoderCallable`` shape: a batch of texts in, a
pair ``(indices, values)`` of lists out. They never fail on any string (empty text gives an
empty vector, which matches nothing).
"""

from __future__ import annotations

import functools
import math
import re
import zlib
from collections import Counter

VERSION = 3  # of the token rules; part of the collection name (store.open_store)

# BM25 constants, measured (docs/benchmarks/rag.md): a low k1 makes the first occurrence of a
# token count nearly as much as many, which suits figures (one mention of "$0.45" is the
# evidence). AVG_LEN is fixed near the mean token count of a ~200-word chunk (words, figures
# and proximity pairs) rather than measured, so a document's weights never change when other
# documents are added.
K1 = 0.4
B = 0.75
AVG_LEN = 400.0
PAIR_WINDOW = 8  # tokens either side of a figure that form a proximity pair with it
PAIR_WEIGHT = 0.4  # query weight of a proximity pair token (a plain token weighs 1)
# Query weight of a title-field token: 1 / 2 / 3 gave recall@5 0.807 / 0.810 / 0.810 on ECTSum
# (sparse alone), 6 fell to 0.800 (the title starts to outvote the figures).
TITLE_WEIGHT = 2.0
TITLE_PREFIX = "t:"

_TOKEN = re.compile(
    r"""
    \$?\d[\d,]*(?:\.\d+)?%?      # numbers: $1,234.5  23%  2021
    | [a-z]+\d+[a-z\d]*          # q3 fy2021 h1 covid19
    | [a-z][a-z'&\-]*[a-z]       # words, incl. non-gaap, at&t, company's
    | [a-z]                      # single letters rarely matter, but keep "b" in "$1.2 b"
    """,
    re.VERBOSE,
)
_SENTENCE = re.compile(r"(?<=[.!?;])\s+|\n+")
_ORDINAL = {"first": "1", "second": "2", "third": "3", "fourth": "4"}
_ORDINAL.update({"1st": "1", "2nd": "2", "3rd": "3", "4th": "4"})
_QUARTER = re.compile(
    r"\b(first|second|third|fourth|1st|2nd|3rd|4th)[\s\-]+(?:fiscal\s+)?quarter\b"
)
_HALF = re.compile(r"\b(first|second|1st|2nd)[\s\-]+half\b")
_FISCAL = re.compile(r"\b(?:full[\s\-]+(?:fiscal\s+)?year|fiscal[\s\-]+year|fiscal)\b")
# "fy2021", "fy 2021", "fy21", "fy'21"; not "fiscal 25 stores" (a two-digit figure after a space)
_FY_YEAR = re.compile(r"\bfy(?:\s?(\d{4})|'?(\d{2}))\b")

STOP_WORDS = frozenset(
    """a an and are as at be been but by for from had has have he her his i if in into is it its
    of on or our so than that the their them then there these they this to was we were what when
    which while who will with would you your us also about up out over all can could do does did
    just not no more most very some such being one other only both each few any may might shall
    should well there's it's we're we've i'm that's let me my""".split()
)

_WORD_FORMS = {
    "percentage": "percent",
    "pct": "percent",
    "bn": "billion",
    "bln": "billion",
    "mln": "million",
    "qtrly": "quarter",
    "quarterly": "quarter",
}
_SCALE = {"thousand": 1e3, "million": 1e6, "mln": 1e6, "m": 1e6, "billion": 1e9, "bln": 1e9}
_SCALE.update({"bn": 1e9, "b": 1e9, "trillion": 1e12})


def _periods(text: str) -> str:
    """Lower-cased text with quarters, halves and fiscal years written one way."""
    text = text.lower()
    # Each pattern needs its key word; most sentences have none, and a substring test is far
    # cheaper than a regex pass (the sparse encoder is most of ingest's work besides the model).
    if "quarter" in text:
        text = _QUARTER.sub(lambda m: f" q{_ORDINAL[m.group(1)]} ", text)
    if "half" in text:
        text = _HALF.sub(lambda m: f" h{_ORDINAL[m.group(1)]} ", text)
    if "fiscal" in text or "full" in text:
        text = _FISCAL.sub(" fy ", text)
    if "fy" in text:
        text = _FY_YEAR.sub(lambda m: f" fy {m.group(1) or '20' + m.group(2)} ", text)
    return text


@functools.lru_cache(maxsize=262_144)  # a corpus has far fewer distinct tokens than that
def _normalise(token: str) -> tuple[str, ...]:
    if token[0] == "$" or token[0].isdigit():
        percent = token.endswith("%")
        number = token.lstrip("$").rstrip("%").replace(",", "")
        if number.endswith(".") or not number:
            number = number.rstrip(".")
        if "." in number:  # "$1,234.50" and "1234.5" are the same figure
            number = number.rstrip("0").rstrip(".")
        out = (number,) if number else ()
        return (*out, "percent") if percent else out
    if token in STOP_WORDS or len(token) < 2:
        return ()
    token = _WORD_FORMS.get(token, token)
    if token.endswith("'s"):
        token = token[:-2]
    elif len(token) > 4 and token.endswith("ies"):
        token = token[:-3] + "y"
    elif len(token) > 3 and token.endswith("s") and not token.endswith("ss"):
        token = token[:-1]
    return (token,)


def _rounded(number: str, scale: str) -> str | None:
    """The value of "891.7" "million" to three significant digits: "~8.92e8"."""
    try:
        value = float(number) * _SCALE[scale]
    except ValueError:
        return None
    if value <= 0 or not math.isfinite(value):
        return None
    exponent = math.floor(math.log10(value))
    mantissa = round(value / 10**exponent, 2)
    if mantissa >= 10:
        mantissa, exponent = mantissa / 10, exponent + 1
    return f"~{mantissa:.2f}e{exponent}"


def _is_figure(token: str) -> bool:
    return token[0].isdigit()


def _sentence_tokens(sentence: str) -> list[str]:
    return tokens_of_raw(_TOKEN.findall(_periods(sentence)))  # no capturing groups


def tokens_of_raw(raw: list[str]) -> list[str]:
    """A sentence's sparse tokens from its raw matches: words and figures, then rounded values
    and proximity pairs (labs that rewrite the raw matches reuse the rules from here)."""
    normalised = list(map(_normalise, raw))
    plain = [part for parts in normalised for part in parts]
    extra: list[str] = []
    for position in [p for p in range(1, len(raw)) if raw[p] in _SCALE]:
        token, parts = raw[position - 1], normalised[position - 1]
        if parts and _is_figure(parts[0]) and not token.endswith("%"):
            rounded = _rounded(parts[0], raw[position])
            if rounded:
                extra.append(rounded)
    figures = [i for i, token in enumerate(plain) if token[0].isdigit()]
    is_figure = set(figures)
    for i in figures:
        prefix = plain[i] + "|"
        for j in range(max(0, i - PAIR_WINDOW), min(len(plain), i + PAIR_WINDOW + 1)):
            if j in is_figure:
                if j > i:  # figure pairs once, in text order ("$2.70 to $3.00")
                    extra.append(prefix + plain[j])
            elif plain[j] != "percent":
                extra.append(prefix + plain[j])
    return plain + extra


def tokenize(text: str) -> list[str]:
    """The sparse tokens of `text`: words and figures in order, then rounded values and
    proximity pairs (see the module docstring)."""
    tokens: list[str] = []
    for sentence in _SENTENCE.split(text):
        tokens.extend(_sentence_tokens(sentence))
    return tokens


def _field(tokens: list[str]) -> list[str]:
    plain = (token for token in tokens if "|" not in token and token[0] != "~")
    return [TITLE_PREFIX + token for token in dict.fromkeys(plain)]


@functools.lru_cache(maxsize=1024)  # every chunk of a document repeats its title
def title_tokens(title: str) -> tuple[str, ...]:
    """The title-field tokens of a document title: its distinct plain tokens, prefixed."""
    return tuple(_field(tokenize(title)))


@functools.lru_cache(maxsize=1024)
def _title_ids(title: str) -> tuple[int, ...]:
    return tuple(token_id(token) for token in title_tokens(title))


def token_id(token: str) -> int:
    """A stable non-negative 32-bit id (Qdrant sparse indices are uint32)."""
    return zlib.crc32(token.encode("utf-8"))


def encode_document(text: str, title: str = "") -> tuple[list[int], list[float]]:
    """Sorted (indices, BM25 term weights) of one chunk of a document titled `title`."""
    tokens = tokenize(text)
    # `token_id` inlined: ~200 tokens a chunk, and a call per token costs more than the CRC.
    counts = Counter([zlib.crc32(token.encode("utf-8")) for token in tokens])
    counts.update(_title_ids(title))
    norm = K1 * (1.0 - B + B * len(tokens) / AVG_LEN)
    indices = sorted(counts)
    return indices, [counts[i] * (K1 + 1.0) / (counts[i] + norm) for i in indices]


def encode_query(text: str) -> tuple[list[int], list[float]]:
    """Sorted (indices, weights) of a query: 1.0 per distinct token, `PAIR_WEIGHT` per distinct
    proximity pair, `TITLE_WEIGHT` per plain token looked up in the title field; IDF is applied
    at search."""
    tokens = tokenize(text)
    weights = {token_id(t): PAIR_WEIGHT if "|" in t else 1.0 for t in tokens}
    for plain in _field(tokens):
        weights[token_id(plain)] = TITLE_WEIGHT
    indices = sorted(weights)
    return indices, [weights[i] for i in indices]


def sparse_doc_fn(
    texts: list[str], titles: list[str] | None = None
) -> tuple[list[list[int]], list[list[float]]]:
    """llama-index `SparseEncoderCallable` for documents (`titles`, one per text, for the title
    field; the store passes them, llama-index itself never does)."""
    titled = titles if titles is not None else [""] * len(texts)
    pairs = [encode_document(text, title) for text, title in zip(texts, titled, strict=True)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def sparse_query_fn(texts: list[str]) -> tuple[list[list[int]], list[list[float]]]:
    """llama-index `SparseEncoderCallable` for queries."""
    pairs = [encode_query(text) for text in texts]
    return [p[0] for p in pairs], [p[1] for p in pairs]
