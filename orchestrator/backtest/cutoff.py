"""Training cut-offs of known models, so a report can warn when the backtest period overlaps
what the model may have read about (its "forecast" of 2020 could be memory, not skill).

Dates are the public knowledge cut-offs published by the vendors, rounded to the month's first day.
A model not listed is treated as possibly overlapping: the warning says the cut-off is unknown.
"""

from __future__ import annotations

from datetime import date

# Longest prefix wins (gpt-4o-mini before gpt-4o before gpt-4).
KNOWN_CUTOFFS: dict[str, date] = {
    "gpt-3.5-turbo": date(2021, 9, 1),
    "gpt-4-turbo": date(2023, 12, 1),
    "gpt-4o-mini": date(2023, 10, 1),
    "gpt-4o": date(2023, 10, 1),
    "gpt-4.1": date(2024, 6, 1),
    "gpt-4": date(2021, 9, 1),
    "o1": date(2023, 10, 1),
    "o3-mini": date(2023, 10, 1),
    "llama-3.1": date(2023, 12, 1),
    "llama-3": date(2023, 12, 1),
    "meta-llama-3": date(2023, 12, 1),
}


def training_cutoff(model: str) -> date | None:
    """The known cut-off of `model` (matched by the longest listed prefix), else None."""
    name = model.lower().rsplit("/", 1)[-1]
    matches = [prefix for prefix in KNOWN_CUTOFFS if name.startswith(prefix)]
    return KNOWN_CUTOFFS[max(matches, key=len)] if matches else None


def cutoff_warnings(
    models: set[str], start: date, end: date, *, override: date | None = None
) -> list[str]:
    """One warning per model whose training data may cover part of [start, end]."""
    warnings: list[str] = []
    period = f"{start.isoformat()}..{end.isoformat()}"
    for model in sorted(models):
        cutoff = override or training_cutoff(model)
        if cutoff is None:
            warnings.append(
                f"The training cut-off of {model} is unknown: it may have seen news and prices "
                f"of {period}; treat LLM-driven results as optimistic."
            )
        elif start <= cutoff:
            warnings.append(
                f"{model} was trained on data up to about {cutoff.isoformat()}, which overlaps "
                f"this backtest ({period}): it may remember what happened, so LLM-driven results "
                "can look better than they would live."
            )
    return warnings
