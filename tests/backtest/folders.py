"""Small data folders cut from the bundled sample: a few tickers, optionally truncated or with a
planted move and planted news, for the look-ahead tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from orchestrator.data.offline import SAMPLE_DIR

TICKERS = ("AAPL", "MSFT", "JPM", "XOM")


def sample_folder(
    folder: Path,
    tickers: Sequence[str] = TICKERS,
    *,
    last_day: date | None = None,
    move: tuple[str, date, float] | None = None,
    news: Sequence[tuple[str, str, datetime, str]] = (),
) -> Path:
    """Copy `tickers` (prices and news) from the sample into `folder`.

    `last_day` drops every bar after it and news published after that calendar day (UTC);
    `move=(symbol, day, factor)` multiplies that session's OHLC by `factor`;
    `news` adds items `(id, symbol, published_at, headline)`.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for symbol in tickers:
        frame = pd.read_csv(SAMPLE_DIR / f"{symbol}.csv.gz")
        days = pd.to_datetime(frame["Date"]).dt.date
        if last_day is not None:
            frame = frame[days <= last_day]
            days = days[days <= last_day]
        if move is not None and move[0] == symbol:
            hit = days == move[1]
            assert hit.any(), f"{move[1]} is not a session of {symbol}"
            for column in ("Open", "High", "Low", "Close", "Adj Close"):
                frame.loc[hit, column] = frame.loc[hit, column] * move[2]
        frame.to_csv(folder / f"{symbol}.csv", index=False)
    items = pd.read_csv(SAMPLE_DIR / "news.csv.gz")
    wanted = set(tickers)
    items = items[items["symbols"].map(lambda text: bool(wanted & set(str(text).split())))]
    if last_day is not None:
        published = pd.to_datetime(items["published_at"], utc=True).dt.date
        items = items[published <= last_day]
    extra = pd.DataFrame(
        [
            {
                "id": item_id,
                "symbols": symbol,
                "published_at": when.isoformat(),
                "headline": headline,
                "source": "planted",
            }
            for item_id, symbol, when, headline in news
        ],
        columns=items.columns,
    )
    pd.concat([items, extra], ignore_index=True).to_csv(folder / "news.csv", index=False)
    return folder
