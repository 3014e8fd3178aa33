"""Why ECTSum summary lines miss their call, and ideas measured against sparse v3 (issue 5).

    nice -n 19 .venv/bin/python bench/rag_recall_lab.py --step dense        # MiniLM, cached
    nice -n 19 .venv/bin/python bench/rag_recall_lab.py --step failures     # breakdown, examples
    nice -n 19 .venv/bin/python bench/rag_recall_lab.py --step ideas        # each idea vs v3
    nice -n 19 .venv/bin/python bench/rag_recall_lab.py --step stack        # ideas combined
    nice -n 19 .venv/bin/python bench/rag_recall_lab.py --step recommended  # the two kept

Same transcripts, chunks, tokens, BM25 (IDF of `LocalIndex`), title field and 3,000 evenly
spaced summary lines as `bench/rag_fusion_lab.py` (its `Lab` is reused); every step first
reproduces the v3 baseline (sparse 0.810, hybrid alpha 0.3 0.806, docs/benchmarks/rag.md).
Dense vectors are the product's (int8 MiniLM, 64 word pieces, chunk text only), computed once
into `--cache` (default /tmp/rag_recall_lab, ~10 min at nice 19 on 2 cores).

`failures` sorts the lines the hybrid misses (not in the top 5) into: no figure; a figure
absent from the call; a figure present only in another form ("52 cents", a number in words,
other rounding: a loose detector, an upper bound); all figures matched but outranked (by the
same company's other quarter or another company, and whether that winner holds the line's
figures too). It prints examples: the line, the best-matching sentence of the right call and
of the top wrong call.

Ideas (recall@5 of the hybrid, alpha 0.3, against 0.806; sparse alone against 0.810):

* best SENTENCE of a chunk added to its score (query-time rescoring of the 50 sparse
  candidates): 0.812; a TRANSCRIPT TERM-MAX vector (element-wise max of its chunk vectors)
  added to the fused ranking: 0.816; figure ROLES ("p:" last year's value, "d:" a change):
  0.808; "eps" read as "earnings share": sparse 0.811;
* TYPED FIGURES ("%12" for "12%", "$0.45" for "$0.45", beside the plain figure): 0.814;
* a KEYWORD FIELD: each call's 10 most distinctive words (tf x IDF over calls, in at most 5 %
  of them) added to every chunk as "k:<word>", looked up by every plain query token at weight
  2, like the title field: 0.817; typed figures + keyword field: 0.827 (+0.021; sparse 0.829);
  everything together: 0.833.
"""

from __future__ import annotations

import argparse
import functools
import math
import pickle
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from scipy import sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rag_dense_windows import DEFAULT_MODEL  # noqa: E402
from rag_fusion_lab import Lab, metrics, minmax  # noqa: E402
from rag_lexical_lab import DEFAULT_FILE  # noqa: E402

from orchestrator.analysis.rag import sparse as product  # noqa: E402
from orchestrator.analysis.rag.chunking import chunk_text  # noqa: E402

CACHE = Path("/tmp/rag_recall_lab")
ALPHA = 0.3  # the product's fusion default
YEAR = re.compile(r"^(19|20)\d\d$")


def is_figure(token: str) -> bool:
    """A number token other than a year (the definition of docs/benchmarks/rag.md)."""
    return token[0].isdigit() and "|" not in token and not YEAR.match(token)


# --- data -------------------------------------------------------------------------------------
class RecallLab(Lab):
    """`rag_fusion_lab.Lab` plus chunk texts, dense vectors and per-call token sets."""

    def __init__(self, file: Path, cache: Path, max_queries: int) -> None:
        super().__init__(file, cache, max_queries)
        self.cache = cache
        self.chunk_texts = [
            chunk.text for record in self.records for chunk in chunk_text(record.document.text)
        ]
        assert len(self.chunk_texts) == len(self.owner)
        self.tickers = [r.document.tickers[0] if r.document.tickers else "" for r in self.records]
        self.titles = [r.document.title for r in self.records]
        self.query_tokens = [product.tokenize(q) for q in self.queries]

    def dense(self) -> tuple[np.ndarray, np.ndarray]:
        """(query vectors, chunk vectors) of the product's encoder, cached."""
        chunks_path, queries_path = self.cache / "dense_chunks.npy", self.cache / "dense_q.npy"
        if not chunks_path.is_file():
            from orchestrator.analysis.rag.embeddings import FastEmbedEmbedder

            embedder = FastEmbedEmbedder(
                "sentence-transformers/all-MiniLM-L6-v2", model_path=DEFAULT_MODEL, cache_dir=CACHE
            )
            np.save(queries_path, embedder.embed_documents(self.queries))
            parts = []
            for begin in range(0, len(self.chunk_texts), 4096):
                part = self.cache / f"dense_part{begin // 4096:03d}.npy"
                if not part.is_file():
                    started = time.perf_counter()
                    np.save(part, embedder.embed_documents(self.chunk_texts[begin : begin + 4096]))
                    print(f"dense part {begin // 4096}: {time.perf_counter() - started:.0f} s")
                parts.append(np.load(part))
            np.save(chunks_path, np.vstack(parts))
        return np.load(queries_path), np.load(chunks_path)


# --- the v3 baseline ---------------------------------------------------------------------------
def ranks_of(per_doc: np.ndarray, answers: np.ndarray) -> np.ndarray:
    """1-based rank of the right call per query (10**6 when it is not ranked at all)."""
    target = per_doc[np.arange(len(answers)), answers]
    rank = (per_doc > target[:, None]).sum(axis=1) + 1
    return np.where(np.isfinite(target) & (target > 0), rank, 10**6)


def positive(per_doc: np.ndarray) -> np.ndarray:
    return np.where(per_doc > 0, per_doc, -np.inf)


def v3_chunk_scores(lab: RecallLab) -> np.ndarray:
    path = lab.cache / "v3_chunks.npy"
    if not path.is_file():
        np.save(path, lab.sparse_titled(product.TITLE_WEIGHT))
    return np.load(path, mmap_mode="r")


def titled_matrices(
    lab: RecallLab,
    chunk_tokens: list[list[str]] | None = None,
    query_tokens: list[list[str]] | None = None,
    query_weight=None,
    doc_fields: list[list[str]] | None = None,
    field_weight: float = 0.0,
) -> tuple[sp.csr_matrix, sp.csc_matrix, dict[str, int]]:
    """(queries x vocab weights with IDF, chunks x vocab BM25 weights, vocab) of sparse v3
    with the title field: the same numbers as `Lab.sparse_titled(TITLE_WEIGHT)`, but the two
    matrices kept apart so that transcript-level vectors can be built from the chunk rows.
    `chunk_tokens` / `query_tokens` replace the product's tokens (a tokenizer variant);
    `doc_fields` adds per-transcript field tokens ("k:<token>") to each of its chunks like the
    title, looked up by each plain query token at `field_weight`."""
    chunk_tokens = chunk_tokens if chunk_tokens is not None else lab.chunk_tokens
    query_tokens = query_tokens if query_tokens is not None else lab.query_tokens
    title_of = []
    for record in lab.records:
        title_of.append(list(product.title_tokens(record.document.title)))
    if doc_fields is not None:
        title_of = [t + f for t, f in zip(title_of, doc_fields, strict=True)]
    vocab: dict[str, int] = {}
    indptr, cols, vals = [0], [], []
    k1, b, avg = product.K1, product.B, product.AVG_LEN
    for tokens, doc in zip(chunk_tokens, lab.owner, strict=True):
        counts: Counter[int] = Counter(vocab.setdefault(t, len(vocab)) for t in tokens)
        for t in title_of[doc]:
            counts[vocab.setdefault(t, len(vocab))] += 1
        norm = k1 * (1.0 - b + b * len(tokens) / avg)
        for col, tf in counts.items():
            cols.append(col)
            vals.append(tf * (k1 + 1.0) / (tf + norm))
        indptr.append(len(cols))
    chunks = sp.csr_matrix(
        (np.asarray(vals, dtype=np.float32), cols, indptr), shape=(len(chunk_tokens), len(vocab))
    )
    df = np.bincount(chunks.indices, minlength=len(vocab)).astype(np.float64)
    n = float(len(chunk_tokens))
    if query_weight is None:

        def query_weight(token: str) -> float:
            return product.PAIR_WEIGHT if "|" in token else 1.0

    rows, qcols, qvals = [], [], []
    for row, tokens in enumerate(query_tokens):
        weights: dict[str, float] = {}
        for t in tokens:  # "x:<token>": <token> at a lower weight (figure roles)
            key = t[2:] if t.startswith("x:") else t
            weights[key] = max(weights.get(key, 0.0), query_weight(t))
        for t in tokens:
            if "|" not in t and t[0] != "~" and ":" not in t:
                weights[product.TITLE_PREFIX + t] = product.TITLE_WEIGHT
                if field_weight:
                    weights["k:" + t] = field_weight
        for token, weight in weights.items():
            col = vocab.get(token)
            if col is None or weight == 0:
                continue
            rows.append(row)
            qcols.append(col)
            qvals.append(weight * math.log(1.0 + (n - df[col] + 0.5) / (df[col] + 0.5)))
    q = sp.csr_matrix((qvals, (rows, qcols)), shape=(len(query_tokens), len(vocab)))
    return q, chunks.tocsc(), vocab


def term_max(lab: RecallLab, chunks: sp.csc_matrix) -> sp.csr_matrix:
    """transcripts x vocab: each token's largest weight over a transcript's chunks (the
    element-wise max of its chunk vectors)."""
    coo = chunks.tocoo()
    doc = lab.owner[coo.row]
    key = doc.astype(np.int64) * chunks.shape[1] + coo.col
    order = np.lexsort((-coo.data, key))
    key, data = key[order], coo.data[order]
    first = np.r_[True, key[1:] != key[:-1]]
    key, data = key[first], data[first]
    return sp.csr_matrix(
        (data, (key // chunks.shape[1], key % chunks.shape[1])),
        shape=(len(lab.records), chunks.shape[1]),
    )


def sentence_tokens(
    lab: RecallLab, name: str = f"v{product.VERSION}", tokenize=None
) -> tuple[list[list[str]], np.ndarray]:
    """Token lists of every sentence of every chunk (the product's own sentence split, so a
    chunk's tokens are its sentences' tokens end to end) and the chunk of each, cached;
    `tokenize` (a variant of the product's tokens, cached as `name`) tokenises a sentence."""
    path = lab.cache / f"sentences-{name}.pkl"
    if path.is_file():
        tokens, chunk_of = pickle.loads(path.read_bytes())
        return tokens, np.asarray(chunk_of)
    tokens, chunk_of = [], []
    for c, text in enumerate(lab.chunk_texts):
        for sentence in product._SENTENCE.split(text):
            part = tokenize(sentence) if tokenize else product._sentence_tokens(sentence)
            if part:
                tokens.append(part)
                chunk_of.append(c)
    path.write_bytes(pickle.dumps((tokens, chunk_of)))
    return tokens, np.asarray(chunk_of)


def bm25_rows(
    token_lists: list[list[str]],
    vocab: dict[str, int],
    avg: float,
    extra: list[list[str]] | None = None,
    k1: float = product.K1,
    b: float = product.B,
) -> sp.csr_matrix:
    """rows x vocab BM25 weights over a fixed vocabulary (unknown tokens dropped); `extra`
    tokens per row (a title field) count in tf but not in the length."""
    indptr, cols, vals = [0], [], []
    for row, tokens in enumerate(token_lists):
        counts: Counter[int] = Counter(vocab[t] for t in tokens if t in vocab)
        if extra is not None:
            counts.update(vocab[t] for t in extra[row] if t in vocab)
        norm = k1 * (1.0 - b + b * len(tokens) / avg)
        for col, tf in counts.items():
            cols.append(col)
            vals.append(tf * (k1 + 1.0) / (tf + norm))
        indptr.append(len(cols))
    return sp.csr_matrix(
        (np.asarray(vals, dtype=np.float32), cols, indptr), shape=(len(token_lists), len(vocab))
    )


def group_max(scores: np.ndarray, group_of: np.ndarray, groups: int) -> np.ndarray:
    """queries x groups: the best column of each group (columns sorted by group; -inf when a
    group has no column)."""
    starts = np.flatnonzero(np.r_[True, np.diff(group_of) != 0])
    out = np.full((scores.shape[0], groups), -np.inf, dtype=np.float32)
    out[:, group_of[starts]] = np.maximum.reduceat(scores, starts, axis=1)
    return out


# --- figures in other forms ---------------------------------------------------------------------
_NUMBER = re.compile(r"\$?\d[\d,]*(?:\.\d+)?")
_SCALED = re.compile(
    r"\$?(\d[\d,]*(?:\.\d+)?)\s*(thousand|million|billion|trillion|mln|bln|bn|m|b)\b"
)
_SCALE = {"thousand": 1e3, "million": 1e6, "mln": 1e6, "m": 1e6, "billion": 1e9, "bln": 1e9}
_SCALE.update({"bn": 1e9, "b": 1e9, "trillion": 1e12})
_UNITS = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
_UNITS += " fifteen sixteen seventeen eighteen nineteen"
_WORDS = {i: w for i, w in enumerate(_UNITS.split())}
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_WORDS.update({10 * i: w for i, w in zip(range(2, 10), _TENS, strict=True)})


def _in_words(value: float) -> list[str]:
    if value != int(value) or not 0 < value < 100:
        return []
    n = int(value)
    if n in _WORDS:
        return [_WORDS[n]]
    return [f"{_WORDS[n - n % 10]}[ -]{_WORDS[n % 10]}"]


def scaled_values(text: str) -> list[float]:
    out = []
    for number, scale in _SCALED.findall(text.lower()):
        try:
            out.append(float(number.replace(",", "")) * _SCALE[scale])
        except ValueError:
            pass
    return out


def query_figures(query: str) -> dict[str, dict]:
    """Each figure of a line (v3 token) -> its raw forms: scaled value, percent, dollar."""
    low = product._periods(query)
    out: dict[str, dict] = {}
    raw = product._TOKEN.findall(low)
    for i, token in enumerate(raw):
        parts = product._normalise(token)
        if not parts or not is_figure(parts[0]):
            continue
        info = out.setdefault(parts[0], {"value": float(parts[0]), "scaled": None})
        nxt = raw[i + 1] if i + 1 < len(raw) else ""
        info["percent"] = token.endswith("%") or nxt in ("percent", "pct")
        info["dollar"] = token.startswith("$")
        if nxt in _SCALE:
            info["scaled"] = info["value"] * _SCALE[nxt]
            info["rounded"] = product._rounded(parts[0], nxt)
    return out


def other_form(fig: str, info: dict, text: str, values: list[float]) -> str | None:
    """How `fig` occurs in the call's raw `text` in a form v3 does not match, or None."""
    v = info["value"]
    low = text.lower()
    if info.get("dollar") and v < 10 and info["scaled"] is None:
        cents = v * 100
        if cents == int(cents) and re.search(rf"\b{int(cents)}\s*(?:cents?|¢)", low):
            return "cents"
    if re.search(r"\b" + re.escape(fig) + r"\s*cents?\b", low) and v >= 1:
        return "cents"
    for words in _in_words(v):
        if re.search(rf"\b{words}\b", low):
            return "in words"
    if info["scaled"]:
        target = info["scaled"]
        close = [x for x in values if x > 0 and abs(x - target) / target <= 0.012]
        if close:
            return "rounded differently"
    if info.get("percent") and v != int(v):
        for r in {math.floor(v), round(v), math.ceil(v)}:
            if re.search(rf"\b{r}(?:\.\d+)?\s*(?:%|percent)", low):
                return "percent rounded"
    return None


# --- idea: figure roles ---------------------------------------------------------------------
# A Reuters line quotes a call's own figure for the period ("q4 earnings per share $0.40"); the
# calls that outrank the right one often hold the same figure in another role: last year's value
# ("compared to $0.40 one year ago"), a change ("an increase of $0.13", "down $0.34"). A figure in
# such a role becomes "p:<figure>" (prior period) or "d:<figure>" (a change) instead of the plain
# figure; a query looks its plain figures up in the other roles too, at weight ROLE_CROSS.
_PREV_BEFORE = frozenset("versus vs compared from against".split())
_PREV_AFTER = frozenset("ago year-ago prior-year last prior previous".split())
_DELTA_BEFORE = frozenset("increase increased decrease decreased up down by grew rose fell".split())
ROLE_BEFORE = 3  # raw tokens looked at before a figure (stopping at another figure)
ROLE_AFTER = 4  # and after it


def _raw_is_figure(token: str) -> bool:
    return token[0] == "$" or token[0].isdigit()


def figure_role(raw: list[str], r: int, delta: bool = True) -> str:
    """ "p", "d" or "" for the figure at raw position `r` of a sentence."""
    for k in range(r - 1, max(-1, r - 1 - ROLE_BEFORE), -1):
        if _raw_is_figure(raw[k]):
            break
        if raw[k] in _PREV_BEFORE:
            return "p"
        if delta and raw[k] in _DELTA_BEFORE and not raw[r].endswith("%"):
            nxt = raw[r + 1] if r + 1 < len(raw) else ""
            if nxt not in ("percent", "pct"):
                return "d"
    for k in range(r + 1, min(len(raw), r + 1 + ROLE_AFTER)):
        if _raw_is_figure(raw[k]) or raw[k] == "to":
            break
        if raw[k] in _PREV_AFTER:
            return "p"
    return ""


def role_tokenize(
    text: str, delta: bool = True, eps: bool = False, roles: bool = True, typed: bool = False
) -> list[str]:
    """The product's tokens, with role prefixes on figures (see above); `eps`: "eps" also
    reads as "earning" + "share" (so that its pairs meet a line's "earnings per share")."""
    out: list[str] = []
    for sentence in product._SENTENCE.split(text):
        low = product._periods(sentence)
        if eps and "eps" in low:
            low = re.sub(r"\beps\b", "eps earnings share", low)
        raw = product._TOKEN.findall(low)
        tokens = product.tokens_of_raw(raw)
        plain_len = sum(len(product._normalise(t)) for t in raw)
        position = 0
        for r, token in enumerate(raw):
            parts = product._normalise(token)
            if parts and is_figure(parts[0]):
                role = figure_role(raw, r, delta) if roles else ""
                if role:
                    tokens[position] = f"{role}:{parts[0]}"
                if typed:
                    nxt = raw[r + 1] if r + 1 < len(raw) else ""
                    if token.endswith("%") or nxt in ("percent", "pct", "percentage"):
                        tokens.append("%" + parts[0])
                    elif token[0] == "$":
                        tokens.append("$" + parts[0])
            position += len(parts)
        assert position == plain_len
        out.extend(tokens)
    return out


def role_query_weight(cross: float):
    """Query weights: a plain figure 1, the same figure in a role `cross`; pairs as v3."""

    def weight(token: str) -> float:
        if "|" in token:
            return product.PAIR_WEIGHT
        if token.startswith("~"):
            return 1.0
        return cross if token.startswith("x:") else 1.0

    return weight


def role_query_tokens(tokens: list[str]) -> list[str]:
    """A query's role tokens plus, for each figure, its other roles marked "x:" (looked up at
    `cross` weight by `titled_matrices` through `expand_cross`)."""
    out = list(tokens)
    for t in tokens:
        if "|" in t or t[0] == "~":
            continue
        if t[0].isdigit() and not YEAR.match(t):
            out += [f"x:p:{t}", f"x:d:{t}"]
        elif t[:2] in ("p:", "d:"):
            fig = t[2:]
            other = "d:" if t[0] == "p" else "p:"
            out += [f"x:{fig}", f"x:{other}{fig}"]
    return out


# --- failure breakdown ----------------------------------------------------------------------------
def idf_table(lab: RecallLab) -> dict[str, float]:
    df: Counter[str] = Counter()
    for tokens in lab.chunk_tokens:
        df.update(set(tokens))
    n = len(lab.chunk_tokens)
    return {t: math.log(1.0 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}


def best_sentence(text: str, query_tokens: list[str], idf: dict[str, float]) -> str:
    wanted = set(query_tokens)
    best, best_score = "", -1.0
    for sentence in product._SENTENCE.split(text):
        tokens = set(product.tokenize(sentence))
        score = sum(idf.get(t, 0.0) * (0.4 if "|" in t else 1.0) for t in tokens & wanted)
        if score > best_score:
            best, best_score = sentence, score
    return best.strip()[:300]


def classify(lab: RecallLab, i: int, top_wrong: int, doc_sets: list[set[str]]) -> tuple[str, str]:
    """(category, detail) of a missed line `i` whose first wrong call is `top_wrong`."""
    query = lab.queries[i]
    gold = int(lab.answers[i])
    figures = query_figures(query)
    if not figures:
        same = lab.tickers[top_wrong] == lab.tickers[gold]
        return "no figure", "top-1 same company" if same else "top-1 other company"
    text = lab.records[gold].document.text
    values = scaled_values(text)
    absent, other = [], []
    for fig, info in figures.items():
        if fig in doc_sets[gold] or (info.get("rounded") and info["rounded"] in doc_sets[gold]):
            continue
        form = other_form(fig, info, text, values)
        (other if form else absent).append(form or fig)
    if absent:
        return (
            "figure absent (all)" if len(absent) == len(figures) else "figure absent (some)"
        ), ""
    if other:
        return "figure in another form", ",".join(sorted(set(other)))
    same = lab.tickers[top_wrong] == lab.tickers[gold]
    wrong_has = all(
        f in doc_sets[top_wrong] or (info.get("rounded") and info["rounded"] in doc_sets[top_wrong])
        for f, info in figures.items()
    )
    who = "same company, other quarter" if same else "other company"
    return "figures matched, outranked", f"{who}; winner {'has' if wrong_has else 'lacks'} them"


def failures(lab: RecallLab, per_doc: np.ndarray, examples: int) -> None:
    ranks = ranks_of(per_doc, lab.answers)
    doc_sets = [set(tokens) for tokens in lab.doc_tokens]
    idf = idf_table(lab)
    # chunk holding all of a line's figures, in the right call
    groups: dict[str, list[int]] = defaultdict(list)
    details: dict[str, Counter] = defaultdict(Counter)
    all_lines: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    for i in range(len(lab.queries)):
        order = np.argsort(-per_doc[i])
        wrong = int(next(d for d in order if d != lab.answers[i]))
        category, detail = classify(lab, i, wrong, doc_sets)
        all_lines[category] += 1
        if ranks[i] <= 5:
            hits[category] += 1
            continue
        groups[category].append(i)
        details[category][detail] += 1
    total = len(lab.queries)
    missed = int((ranks > 5).sum())
    print(f"\n{missed} of {total} lines missed (recall@5 {1 - missed / total:.3f})\n")
    print("| category | lines | recall@5 in it | missed | share of misses | detail |")
    print("|---|---|---|---|---|---|")
    for category, count in all_lines.most_common():
        miss = len(groups[category])
        detail = "; ".join(f"{d} {n}" for d, n in details[category].most_common() if d)
        print(
            f"| {category} | {count} | {hits[category] / count:.3f} | {miss} | "
            f"{miss / missed:.2f} | {detail} |"
        )
    buckets = Counter(
        "6-10" if r <= 10 else "11-50" if r <= 50 else "not in top 50" for r in ranks[ranks > 5]
    )
    print("\nrank of the right call among misses:", dict(buckets))
    rng = np.random.default_rng(5)
    for category, members in groups.items() if examples else ():
        print(f"\n### {category}: {min(examples, len(members))} of {len(members)} examples\n")
        for i in sorted(rng.choice(members, min(examples, len(members)), replace=False)):
            gold = int(lab.answers[i])
            wrong = int(next(d for d in np.argsort(-per_doc[i]) if d != gold))
            _, detail = classify(lab, i, wrong, doc_sets)
            tokens = lab.query_tokens[i]
            rank = "unranked" if ranks[i] >= 10**6 else f"rank {ranks[i]}"
            print(f"- line: {lab.queries[i]!r} ({lab.titles[gold]}, {rank}) {detail}")
            print(f"  right call: {best_sentence(lab.records[gold].document.text, tokens, idf)!r}")
            text = lab.records[wrong].document.text
            print(f"  top-1 ({lab.titles[wrong]}): {best_sentence(text, tokens, idf)!r}")


# --- ideas ----------------------------------------------------------------------------------------
def variant_tokens(lab: RecallLab, name: str, tokenize) -> list[list[str]]:
    path = lab.cache / f"chunks-{name}.pkl"
    if path.is_file():
        return pickle.loads(path.read_bytes())
    tokens = [tokenize(text) for text in lab.chunk_texts]
    path.write_bytes(pickle.dumps(tokens))
    return tokens


def sentence_scores(
    lab: RecallLab,
    q: sp.csr_matrix,
    vocab: dict[str, int],
    name: str = f"v{product.VERSION}",
    tokenize=None,
    doc_fields: list[list[str]] | None = None,
) -> np.ndarray:
    """queries x chunks: the BM25 score of the best single sentence of each chunk (sentence
    length norm, the title field (and `doc_fields`) on every sentence, IDF over chunks as the
    chunk index)."""
    tokens, chunk_of = sentence_tokens(lab, name, tokenize)
    titles = [list(product.title_tokens(r.document.title)) for r in lab.records]
    if doc_fields is not None:
        titles = [t + f for t, f in zip(titles, doc_fields, strict=True)]
    avg = float(np.mean([len(t) for t in tokens]))
    matrix = bm25_rows(tokens, vocab, avg, [titles[lab.owner[c]] for c in chunk_of]).T.tocsr()
    out = np.empty((q.shape[0], len(lab.owner)), dtype=np.float32)
    for begin in range(0, q.shape[0], 200):
        block = (q[begin : begin + 200] @ matrix).toarray()
        out[begin : begin + 200] = group_max(block, chunk_of, len(lab.owner))
    return np.where(np.isfinite(out), out, 0)


def keyword_fields(
    lab: RecallLab,
    k: int,
    max_df: float = 0.05,
    incremental: bool = False,
    first_batch: int = 1,
    min_docs: int = 0,
) -> list[list[str]]:
    """Each transcript's `k` most distinctive plain words (tf x IDF over transcripts, words in
    at most `max_df` of the calls, no figures): its company and product names, its business
    ("subscription", "brokerage"), as "k:<word>". `incremental`: as an ingest would see it,
    the document frequencies of the transcripts before it in the file and itself only (the
    first `first_batch` transcripts see each other: one ingest batch); a transcript ingested
    while fewer than `min_docs` are known gets no keywords (too few to tell what is rare)."""
    counts = [
        Counter(t for t in tokens if "|" not in t and t[0].isalpha() and len(t) > 2)
        for tokens in lab.doc_tokens
    ]
    df: Counter[str] = Counter()
    seen = len(counts) if not incremental else max(1, first_batch)
    for c in counts[:seen]:
        df.update(c.keys())
    out = []
    for i, c in enumerate(counts):
        if i >= seen:
            df.update(c.keys())
        n = max(i + 1, seen)
        if n < min_docs:
            out.append([])
            continue
        limit = max(1.0, max_df * n)
        scored = [
            (tf * math.log(1.0 + (n - df[t] + 0.5) / (df[t] + 0.5)), t)
            for t, tf in c.items()
            if df[t] <= limit and tf > 1
        ]
        out.append([f"k:{t}" for _, t in sorted(scored, reverse=True)[:k]])
    return out


_CAPITALISED = re.compile(r"(?<![.!?]\s)(?<!^)\b([A-Z][a-zA-Z&'\-]+)")
_WORD = re.compile(r"[A-Za-z][A-Za-z&'\-]+")


def name_fields(lab: RecallLab, k: int, min_count: int = 3) -> list[list[str]]:
    """Each transcript's names found from its own text alone (no corpus statistics, so a
    document's field never depends on the others): words written capitalised at least
    `min_count` times inside sentences and never in lower case in that transcript ("Aaron",
    "Waikiki", "Omicron"), the `k` most frequent, as "k:<token>"."""
    out = []
    for record in lab.records:
        text = record.document.text
        lower = {w for w in _WORD.findall(text) if w[0].islower()}
        caps = Counter(
            w
            for line in text.splitlines()
            for w in _CAPITALISED.findall(line)
            if w.lower() not in lower
        )
        names = []
        for word, count in caps.most_common():
            if count < min_count or len(names) >= k:
                break
            names.extend(product._normalise(word.lower()))
        out.append([f"k:{t}" for t in dict.fromkeys(names)])
    return out


def top_mask(scores: np.ndarray, k: int = 50) -> np.ndarray:
    """True on each row's k best positive columns (the fusion's sparse candidates)."""
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    mask = np.zeros(scores.shape, dtype=bool)
    mask[np.arange(len(scores))[:, None], top] = True
    return mask & (scores > 0)


def ideas(lab: RecallLab, show) -> None:
    qd, cd = lab.dense()
    dense = qd @ cd.T
    q, chunks, vocab = titled_matrices(lab)
    cs = (q @ chunks.T).toarray().astype(np.float32)
    best = lab.best(cs)
    show("v3 sparse (reproduced)", positive(best))
    hybrid = lab.fused(dense, cs, ALPHA)
    show("v3 hybrid alpha 0.3 (reproduced)", hybrid)
    finite = np.isfinite(hybrid)

    print("\n**Idea 1: sentence-level evidence** (best sentence of a chunk, added to the chunk)")
    sent = sentence_scores(lab, q, vocab)
    show("best sentence alone", positive(lab.best(sent)))
    mask = top_mask(cs)
    for w in (0.3, 0.5, 0.7):
        show(f"sparse: chunk + {w} x best sentence (all chunks)", positive(lab.best(cs + w * sent)))
        rescored = np.where(mask, cs + w * sent, 0)
        show(
            f"hybrid: top-50 sparse candidates rescored, chunk + {w} x sentence",
            lab.fused(dense, rescored, ALPHA),
        )

    print("\n**Idea 2: transcript term-max vector** (element-wise max of its chunk vectors)")
    tm = (q @ term_max(lab, chunks).T).toarray()
    show("term-max alone", positive(tm))
    tmn = minmax(tm)
    for w in (0.2, 0.5, 1.0):
        show(f"sparse: best chunk + {w} x term-max (both min-max)", minmax(best) + w * tmn)
        show(
            f"hybrid + {w} x term-max (min-max)",
            np.where(finite, np.where(finite, hybrid, 0) + w * tmn, -np.inf),
        )

    print("\n**Idea 3: figure roles** (p: prior period, d: change)")
    results = {}
    for name, kwargs in (("roles", {}), ("roles-no-delta", {"delta": False})):
        ct = variant_tokens(lab, name, lambda text, kw=kwargs: role_tokenize(text, **kw))
        qt = [role_query_tokens(role_tokenize(text, **kwargs)) for text in lab.queries]
        for cross in (0.0, 0.3, 0.6):
            rq, rchunks, _ = titled_matrices(lab, ct, qt, role_query_weight(cross))
            rcs = (rq @ rchunks.T).toarray().astype(np.float32)
            show(f"sparse, {name}, cross weight {cross}", positive(lab.best(rcs)))
            results[(name, cross)] = rcs
    ct = variant_tokens(lab, "eps", lambda text: role_tokenize(text, delta=False, eps=True))
    ct = [[t.split(":", 1)[1] if t[:2] == "p:" else t for t in c] for c in ct]
    eq, echunks, _ = titled_matrices(lab, ct)
    show(
        "sparse, eps also read as earnings + share", positive(lab.best((eq @ echunks.T).toarray()))
    )
    key = max(results, key=lambda k: metrics(positive(lab.best(results[k])), lab.answers)["r5"])
    rcs = results[key]
    show(f"hybrid, {key[0]} cross {key[1]}", lab.fused(dense, rcs, ALPHA))

    print("\n**Together**")
    rq, rchunks, rvocab = titled_matrices(
        lab,
        variant_tokens(lab, key[0], None),
        [role_query_tokens(role_tokenize(t, delta=key[0] == "roles")) for t in lab.queries],
        role_query_weight(key[1]),
    )
    rtm = minmax((rq @ term_max(lab, rchunks).T).toarray())
    for w_sent, w_tm in ((0.5, 0.5), (0.5, 1.0), (0.3, 0.5)):
        combined = lab.fused(dense, np.where(mask, cs + w_sent * sent, 0), ALPHA)
        show(
            f"v3 hybrid, sentence {w_sent}, term-max {w_tm}",
            np.where(
                np.isfinite(combined),
                np.where(np.isfinite(combined), combined, 0) + w_tm * tmn,
                -np.inf,
            ),
        )
        both = lab.fused(dense, np.where(top_mask(rcs), rcs, 0), ALPHA)
        show(
            f"roles hybrid + term-max {w_tm} (no sentence)",
            np.where(np.isfinite(both), np.where(np.isfinite(both), both, 0) + w_tm * rtm, -np.inf),
        )


def stack(lab: RecallLab, show) -> None:
    """The ideas one on top of the other, sparse and hybrid."""
    qd, cd = lab.dense()
    dense = qd @ cd.T
    fields = keyword_fields(lab, 10, 0.05)

    def run(name: str, tokenize, w_sent: float, w_tm: float, alphas=(ALPHA,)) -> None:
        if tokenize is None:
            ct, qt, weight = None, None, None
        else:
            ct = variant_tokens(lab, name, tokenize)
            qt = [role_query_tokens(tokenize(text)) for text in lab.queries]
            weight = role_query_weight(0.0)
        q, chunks, vocab = titled_matrices(lab, ct, qt, weight, fields, 2.0)
        cs = (q @ chunks.T).toarray().astype(np.float32)
        label = f"keywords{' + ' + name if tokenize else ''}"
        if w_sent:
            sent = sentence_scores(lab, q, vocab, name, tokenize, fields)
            cs_all = cs + w_sent * sent
            cs = np.where(top_mask(cs), cs_all, 0)
            label += f" + sentence {w_sent}"
        else:
            cs_all = cs
        if w_tm:
            tm = minmax((q @ term_max(lab, chunks).T).toarray())
            label += f" + term-max {w_tm}"
            show(f"sparse: {label}", minmax(lab.best(cs_all)) + w_tm * tm)
        else:
            show(f"sparse: {label}", positive(lab.best(cs_all)))
        for alpha in alphas:
            fused = lab.fused(dense, cs, alpha)
            if w_tm:
                ok = np.isfinite(fused)
                fused = np.where(ok, np.where(ok, fused, 0) + w_tm * tm, -np.inf)
            show(f"hybrid alpha {alpha}: {label}", fused)

    run("v3", None, 0.0, 0.0)
    typed = functools.partial(role_tokenize, roles=False, typed=True)
    both = functools.partial(role_tokenize, typed=True)
    run("typed", typed, 0.0, 0.0)
    run("roles+typed", both, 0.0, 0.0)
    run("roles+typed", both, 0.5, 0.0)
    run("roles+typed", both, 0.5, 0.5, (0.1, 0.2, 0.3))
    run("v3", None, 0.5, 0.5, (0.1, 0.3))


def recommended(lab: RecallLab, show) -> None:
    """Keyword field + typed figures (the two ideas worth integrating): variants of the keyword
    field's document frequencies, alphas, lines gained and lost, vector sizes, failures."""
    qd, cd = lab.dense()
    dense = qd @ cd.T
    q, chunks, _ = titled_matrices(lab)
    base_sparse = positive(lab.best((q @ chunks.T).toarray()))
    base = lab.fused(dense, (q @ chunks.T).toarray().astype(np.float32), ALPHA)
    show("v3 sparse", base_sparse)
    show("v3 hybrid alpha 0.3", base)
    typed = functools.partial(role_tokenize, roles=False, typed=True)
    ct = variant_tokens(lab, "typed", typed)
    qt = [typed(text) for text in lab.queries]
    best = None

    def kw(incremental: bool, first_batch: int = 1, min_docs: int = 0) -> list[list[str]]:
        return keyword_fields(lab, 10, 0.05, incremental, first_batch, min_docs)

    for label, fields in (
        ("keywords (df over all calls: one batch)", keyword_fields(lab, 10, 0.05)),
        ("keywords (df grows call by call)", kw(True)),
        ("keywords (df grows call by call, none before 100 calls)", kw(True, 1, 100)),
        ("keywords (first 500 calls one batch, then call by call)", kw(True, 500)),
        ("keywords (names only, no corpus df)", name_fields(lab, 10)),
        ("no keywords", None),
    ):
        for weight in (1.0, 2.0) if fields is not None else (0.0,):
            kq, kchunks, _ = titled_matrices(lab, ct, qt, None, fields, weight)
            cs = (kq @ kchunks.T).toarray().astype(np.float32)
            show(f"sparse: typed + {label}, weight {weight}", positive(lab.best(cs)))
            for alpha in (0.1, 0.3):
                fused = lab.fused(dense, cs, alpha)
                show(f"hybrid alpha {alpha}: typed + {label}, weight {weight}", fused)
                if best is None and alpha == ALPHA and weight == 2.0:
                    best = fused, kq, kchunks, fields
    fused, kq, kchunks, fields = best
    for name, kwargs in (("keywords only", {}),):
        kq2, kch2, _ = titled_matrices(lab, None, None, None, fields, 2.0, **kwargs)
        show(
            f"hybrid alpha 0.3: {name} (no typed), weight 2.0",
            lab.fused(dense, (kq2 @ kch2.T).toarray().astype(np.float32), ALPHA),
        )
    before, after = ranks_of(base, lab.answers) <= 5, ranks_of(fused, lab.answers) <= 5
    print(f"\nlines gained {int((after & ~before).sum())}, lost {int((before & ~after).sum())}")
    print(
        f"sparse entries a chunk: v3 {chunks.nnz / chunks.shape[0]:.1f}, "
        f"typed + keywords {kchunks.nnz / kchunks.shape[0]:.1f}; a query: v3 "
        f"{q.nnz / q.shape[0]:.1f}, typed + keywords {kq.nnz / kq.shape[0]:.1f} (found in vocab)"
    )
    failures(lab, fused, 0)


def _show(lab: RecallLab, name: str, per_doc: np.ndarray) -> None:
    m = metrics(per_doc, lab.answers)
    print(
        f"| {name} | {m['r1']:.3f} | {m['r5']:.3f} | {m['r10']:.3f} | {m['mrr']:.3f} |", flush=True
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--max-queries", type=int, default=3000)
    parser.add_argument("--step", default="failures")
    parser.add_argument("--examples", type=int, default=10)
    args = parser.parse_args()
    lab = RecallLab(args.file, args.cache, args.max_queries)
    print(f"{len(lab.records)} transcripts, {len(lab.owner)} chunks, {len(lab.queries)} queries")
    if args.step == "dense":
        lab.dense()
        return
    chunk = v3_chunk_scores(lab)
    sparse_doc = positive(lab.best(np.asarray(chunk)))
    q, c = lab.dense()
    hybrid = lab.fused(q @ c.T, np.asarray(chunk), ALPHA)
    for name, per_doc in (("sparse v3", sparse_doc), ("hybrid v3 alpha 0.3", hybrid)):
        m = metrics(per_doc, lab.answers)
        print(f"{name}: r1 {m['r1']:.3f} r5 {m['r5']:.3f} r10 {m['r10']:.3f} mrr {m['mrr']:.3f}")
    if args.step == "failures":
        failures(lab, hybrid, args.examples)
    if args.step == "ideas":

        def show(name: str, per_doc: np.ndarray) -> None:
            m = metrics(per_doc, lab.answers)
            print(
                f"| {name} | {m['r1']:.3f} | {m['r5']:.3f} | {m['r10']:.3f} | {m['mrr']:.3f} |",
                flush=True,
            )

        print("| ranking | recall@1 | recall@5 | recall@10 | MRR |\n|---|---|---|---|---|")
        ideas(lab, show)
    if args.step == "recommended":
        print("| ranking | recall@1 | recall@5 | recall@10 | MRR |\n|---|---|---|---|---|")
        recommended(lab, functools.partial(_show, lab))
    if args.step == "stack":
        show = functools.partial(_show, lab)
        print("| ranking | recall@1 | recall@5 | recall@10 | MRR |\n|---|---|---|---|---|")
        stack(lab, show)


if __name__ == "__main__":
    main()
