"""FinGPT-Forecaster return bins: U1..U5, U5+ (up) and D1..D5, D5+ (down), in 1 % steps.

`U3` means a 5-day return in [2 %, 3 %); `U5+` means 5 % or more; `D2` a fall in (-2 %, -1 %].
A return of exactly 0 counts as up (U1). Bin midpoints (for FinGPT's MSE metric) are the centre
of the step, 5.5 % for the open-ended `U5+` / `D5+`.
"""

from __future__ import annotations

import math
import re

BINS = (
    *(f"D{k}" for k in ("5+", 5, 4, 3, 2, 1)),
    *(f"U{k}" for k in (1, 2, 3, 4, 5, "5+")),
)
_BIN = re.compile(r"\b([UD])\s?([1-5])(\+?)", re.I)
# "up by 2-3%", "down by more than 5%", "up by 1%" (FinGPT-Forecaster's own phrasing)
_PHRASE = re.compile(
    r"\b(up|down|rise|fall|increase|decrease|gain|drop|decline)\w*\s+(?:by\s+)?"
    r"(more than\s+|over\s+|above\s+)?(\d+(?:\.\d+)?)\s*(?:%|percent)?"
    r"(?:\s*(?:-|to|–)\s*(\d+(?:\.\d+)?)\s*%?)?",
    re.I,
)
_UP_WORDS = ("up", "rise", "increase", "gain")


def return_bin(fraction: float) -> str:
    """The bin of a 5-day return given as a fraction (0.023 -> "U3")."""
    if math.isnan(fraction):
        raise ValueError("no bin for a missing return")
    percent = fraction * 100
    if percent >= 0:
        step = int(math.floor(percent)) + 1
        return "U5+" if step > 5 else f"U{step}"
    step = int(math.floor(-percent - 1e-12)) + 1
    return "D5+" if step > 5 else f"D{step}"


def bin_midpoint(name: str) -> float:
    """The bin's centre as a fraction ("U3" -> 0.025, "D5+" -> -0.055)."""
    name = name.strip().upper()
    if name not in BINS:
        raise ValueError(f"unknown bin {name!r}; expected one of {', '.join(BINS)}")
    size = 5.5 if name.endswith("+") else int(name[1]) - 0.5
    return (size if name[0] == "U" else -size) / 100


def parse_bin(text: str) -> str | None:
    """A bin from a model's prediction text: "U3", "D5+", "Up by 2-3%", "down by more than 5%".
    None when the text names no bin."""
    found = _BIN.search(text)
    if found:
        return f"{found.group(1).upper()}{found.group(2)}{found.group(3)}"
    phrase = _PHRASE.search(text)
    if not phrase:
        return None
    up = phrase.group(1).lower().startswith(_UP_WORDS)
    low = float(phrase.group(3))
    high = float(phrase.group(4)) if phrase.group(4) else None
    if phrase.group(2) or low >= 5 and high is None:
        step = "5+" if low >= 5 else str(min(5, int(low) + 1))
    else:
        step = str(max(1, min(5, math.ceil(high if high is not None else low))))
        if high is None and low > 5:
            step = "5+"
    return f"{'U' if up else 'D'}{step}"
