"""BM25-style sparse vectors computed locally, keeping the number tokens finance text lives on.

Dense sentence embeddings blur "$481.1 million" and "$418.1 million" into the same point; an
earnings question is mostly such figures. This encoder turns text into Qdrant sparse vectors:

* tokens are lower-cased words and NUMBERS: "$1,234.5" -> "1234.5", "23%" -> "23" + "percent",
  "Q3" -> "q3", "FY2021" -> "fy2021"; English stop words are dropped, a light plural/possessive
  strip folds "revenues" into "revenue";
* a token id is the CRC-32 of the token (stable across processes and machines, no vocabulary to
  store; collisions among 2^32 ids are negligible for our corpus sizes);
* a document weight is BM25's saturated term frequency
  ``tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / AVG_LEN))``; a query weight is 1 per distinct
  token. The IDF factor is applied at search time by Qdrant (``Modifier.IDF`` on the sparse vector,
  server or local) or by the local numpy index, from the collection's own document frequencies,
  so the score of a chunk is exactly its BM25 score for the query.

Both functions have llama-index's ``SparseEncoderCallable`` shape: a batch of texts in, a pair
``(indices, values)`` of lists out. They never fail on any string (empty text gives an empty
vector, which matches nothing).
"""

from __future__ import annotations

import functools
import re
import zlib
from collections import Counter

# BM25's usual constants; AVG_LEN is fixed at the target chunk length (words) rather than
# measured, so a document's weights never change when other documents are added.
K1 = 1.2
B = 0.75
AVG_LEN = 200.0

_TOKEN = re.compile(
    r"""
    \$?\d[\d,]*(?:\.\d+)?%?      # numbers: $1,234.5  23%  2021
    | [a-z]+\d+[a-z\d]*          # q3 fy2021 h1 covid19
    | [a-z][a-z'&\-]*[a-z]       # words, incl. non-gaap, at&t, company's
    | [a-z]                      # single letters rarely matter, but keep "b" in "$1.2 b"
    """,
    re.VERBOSE,
)

STOP_WORDS = frozenset(
    """a an and are as at be been but by for from had has have he her his i if in into is it its
    of on or our so than that the their them then there these they this to was we were what when
    which while who will with would you your us also about up out over all can could do does did
    just not no more most very some such being one other only both each few any may might shall
    should well there's it's we're we've i'm that's let me my""".split()
)

_WORD_FORMS = {"percentage": "percent", "pct": "percent", "bn": "billion", "mln": "million"}


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


def tokenize(text: str) -> list[str]:
    """The sparse tokens of `text`, in order, numbers kept (see the module docstring)."""
    tokens: list[str] = []
    for match in _TOKEN.finditer(text.lower()):
        tokens.extend(_normalise(match.group()))
    return tokens


def token_id(token: str) -> int:
    """A stable non-negative 32-bit id (Qdrant sparse indices are uint32)."""
    return zlib.crc32(token.encode("utf-8"))


def encode_document(text: str) -> tuple[list[int], list[float]]:
    """Sorted (indices, BM25 term weights) of one document or chunk."""
    tokens = tokenize(text)
    counts = Counter(token_id(token) for token in tokens)
    norm = K1 * (1.0 - B + B * len(tokens) / AVG_LEN)
    indices = sorted(counts)
    return indices, [counts[i] * (K1 + 1.0) / (counts[i] + norm) for i in indices]


def encode_query(text: str) -> tuple[list[int], list[float]]:
    """Sorted (indices, weights) of a query: 1.0 per distinct token; IDF is applied at search."""
    indices = sorted({token_id(token) for token in tokenize(text)})
    return indices, [1.0] * len(indices)


def sparse_doc_fn(texts: list[str]) -> tuple[list[list[int]], list[list[float]]]:
    """llama-index `SparseEncoderCallable` for documents."""
    pairs = [encode_document(text) for text in texts]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def sparse_query_fn(texts: list[str]) -> tuple[list[list[int]], list[list[float]]]:
    """llama-index `SparseEncoderCallable` for queries."""
    pairs = [encode_query(text) for text in texts]
    return [p[0] for p in pairs], [p[1] for p in pairs]
