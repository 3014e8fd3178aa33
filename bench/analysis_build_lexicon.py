"""Build orchestrator/analysis/data/sentiment_lexicon.json from the TRAIN split only.

    .venv/bin/python bench/analysis_build_lexicon.py \
        [--train ../shared/data/sentiment/twitter_financial_news/sent_train.csv]

Term weights are multinomial naive-Bayes log-probabilities (Laplace/Lidstone smoothing `alpha`) of
the unigrams/bigrams of `orchestrator.analysis.lexicon.tokenize`, counted once per item, centred per
term (a per-term constant does not change the decision) and rounded to 3 decimals. Terms seen in
fewer than `MIN_ITEMS` training items are dropped to keep the file small. `alpha` and the weight of
the hand-written finance rules are chosen by 5-fold cross-validation on TRAIN; the validation split
is never read here. Deterministic: the folds are a fixed interleaving of the rows.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from collections import Counter
from pathlib import Path

from orchestrator.analysis.lexicon import CLASSES, LEXICON_PATH, LexiconModel, tokenize

DEFAULT_TRAIN = (
    Path(__file__).resolve().parents[2]
    / "shared/data/sentiment/twitter_financial_news/sent_train.csv"
)
# Twitter Financial News labels: 0 bearish, 1 bullish, 2 neutral -> our class order.
LABELS = {"0": "negative", "1": "positive", "2": "neutral"}
MIN_ITEMS = 2  # a term seen once is mostly a name or a typo; dropping it halves the file
ALPHAS = (0.1, 0.3, 0.5, 1.0)
RULE_WEIGHTS = (0.0, 0.25, 0.5, 1.0)
FOLDS = 5


def fit(rows: list[tuple[str, int]], alpha: float, rule_weight: float) -> LexiconModel:
    counts = [Counter[str]() for _ in CLASSES]
    docs = Counter[int]()
    for text, label in rows:
        counts[label].update(set(tokenize(text)))
        docs[label] += 1
    vocabulary = {
        term for term in set().union(*counts) if sum(c[term] for c in counts) >= MIN_ITEMS
    }
    totals = [sum(c[t] for t in vocabulary) for c in counts]
    size = len(vocabulary)
    terms: dict[str, list[float]] = {}
    for term in sorted(vocabulary):
        logs = [
            math.log((counts[k][term] + alpha) / (totals[k] + alpha * size))
            for k in range(len(CLASSES))
        ]
        mean = sum(logs) / len(logs)
        terms[term] = [round(value - mean, 3) for value in logs]
    prior = [math.log(docs[k] / len(rows)) for k in range(len(CLASSES))]
    return LexiconModel([round(p, 4) for p in prior], terms, rule_weight)


def accuracy(model: LexiconModel, rows: list[tuple[str, int]]) -> float:
    hits = sum(CLASSES.index(model.classify(text).label) == label for text, label in rows)
    return hits / len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=Path, default=DEFAULT_TRAIN)
    parser.add_argument("--out", type=Path, default=LEXICON_PATH)
    args = parser.parse_args()
    with args.train.open(newline="") as handle:
        rows = [
            (row["text"], CLASSES.index(LABELS[row["label"]]))  # type: ignore[arg-type]
            for row in csv.DictReader(handle)
        ]
    best: tuple[float, float, float] = (-1.0, ALPHAS[0], RULE_WEIGHTS[0])
    for alpha in ALPHAS:
        for rule_weight in RULE_WEIGHTS:
            scores = []
            for fold in range(FOLDS):
                train = [r for i, r in enumerate(rows) if i % FOLDS != fold]
                held = [r for i, r in enumerate(rows) if i % FOLDS == fold]
                scores.append(accuracy(fit(train, alpha, rule_weight), held))
            mean = sum(scores) / FOLDS
            print(f"alpha={alpha} rule_weight={rule_weight}: cv accuracy {mean:.4f}")
            if mean > best[0]:
                best = (mean, alpha, rule_weight)
    _, alpha, rule_weight = best
    model = fit(rows, alpha, rule_weight)
    payload = {
        "source": f"{args.train.name} (Twitter Financial News Sentiment, MIT), train split only",
        "method": "multinomial naive Bayes log-probabilities, centred; see the script docstring",
        "alpha": alpha,
        "min_items": MIN_ITEMS,
        "cv_accuracy": round(best[0], 4),
        "classes": list(CLASSES),
        "log_prior": model.log_prior,
        "rule_weight": rule_weight,
        "terms": model.term_weights,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, separators=(",", ":"), sort_keys=False) + "\n")
    print(
        f"chose alpha={alpha} rule_weight={rule_weight} (cv {best[0]:.4f}); "
        f"{len(model.term_weights)} terms -> {args.out}"
    )


if __name__ == "__main__":
    main()
