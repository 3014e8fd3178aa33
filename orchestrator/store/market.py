"""The market-data cache: daily bars and news items fetched from remote providers.

Bars are stored per (provider, symbol, interval, session date) with the date ranges that were
fetched completely (`market_bar_range`), so the cache can tell "no trading that day" from "never
fetched". News items are stored per (provider, id) with their symbols in `market_news_symbol` and
the fetched time windows in `market_news_range`. Only final data is written: the caller stores
bars of closed sessions and windows ending no later than the fetch time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta

import pandas as pd
from sqlalchemy import Index, Text, func
from sqlmodel import Field, Session, SQLModel, col, select

from orchestrator.domain import NewsItem
from orchestrator.store.base import dialect_insert, utc_field, utcnow

# The bar columns of `orchestrator.data.base.BAR_COLUMNS` (repeated: store sits below data).
BAR_COLUMNS = ("open", "high", "low", "close", "volume")


class MarketBarRow(SQLModel, table=True):
    __tablename__ = "market_bar"

    provider: str = Field(primary_key=True, max_length=32)
    symbol: str = Field(primary_key=True, max_length=32)
    bar_interval: str = Field(primary_key=True, max_length=8)
    session_date: date = Field(primary_key=True)
    open: float
    high: float
    low: float
    close: float
    volume: float
    fetched_at: datetime = utc_field(default_now=True)


class MarketBarRangeRow(SQLModel, table=True):
    """A date range whose bars were fetched completely (sessions in it are all stored)."""

    __tablename__ = "market_bar_range"
    __table_args__ = (Index("ix_market_bar_range_key", "provider", "symbol", "bar_interval"),)

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=32)
    symbol: str = Field(max_length=32)
    bar_interval: str = Field(max_length=8)
    start_date: date
    end_date: date
    fetched_at: datetime = utc_field(default_now=True)


class MarketNewsRow(SQLModel, table=True):
    __tablename__ = "market_news"

    provider: str = Field(primary_key=True, max_length=32)
    news_id: str = Field(primary_key=True, max_length=128)
    symbols: str = Field(sa_type=Text)  # space-separated, for rebuilding the NewsItem
    published_at: datetime = utc_field(index=True)
    headline: str = Field(sa_type=Text)
    summary: str = Field(default="", sa_type=Text)
    source: str = Field(default="", max_length=128)
    url: str = Field(default="", sa_type=Text)


class MarketNewsSymbolRow(SQLModel, table=True):
    __tablename__ = "market_news_symbol"
    __table_args__ = (Index("ix_market_news_symbol_lookup", "provider", "symbol"),)

    provider: str = Field(primary_key=True, max_length=32)
    news_id: str = Field(primary_key=True, max_length=128)
    symbol: str = Field(primary_key=True, max_length=32)


class MarketNewsRangeRow(SQLModel, table=True):
    """A time window (start, end] whose news for a symbol was fetched completely.

    `start_at` None means "from the beginning of the provider's history".
    """

    __tablename__ = "market_news_range"
    __table_args__ = (Index("ix_market_news_range_key", "provider", "symbol"),)

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=32)
    symbol: str = Field(max_length=32)
    start_at: datetime | None = utc_field(nullable=True)
    end_at: datetime = utc_field()
    fetched_at: datetime = utc_field(default_now=True)


# --- bars --------------------------------------------------------------------------------------
def ranges_cover(ranges: Iterable[tuple[date, date]], start: date, end: date) -> bool:
    """True when the date ranges together cover every day of [start, end]."""
    reached = start - timedelta(days=1)  # covered through this day so far
    for range_start, range_end in sorted(ranges):
        if range_end < start:
            continue
        if range_start > reached + timedelta(days=1):
            return False
        reached = max(reached, range_end)
        if reached >= end:
            return True
    return reached >= end


def load_bar_history(
    session: Session, provider: str, symbol: str, interval: str
) -> tuple[pd.DataFrame, list[tuple[date, date]]]:
    """Every stored bar of one symbol and the ranges fetched completely."""
    ranges = session.exec(
        select(col(MarketBarRangeRow.start_date), col(MarketBarRangeRow.end_date))
        .where(MarketBarRangeRow.provider == provider)
        .where(MarketBarRangeRow.symbol == symbol)
        .where(MarketBarRangeRow.bar_interval == interval)
    ).all()
    statement = (
        select(  # type: ignore[call-overload]
            MarketBarRow.session_date, *(getattr(MarketBarRow, c) for c in BAR_COLUMNS)
        )
        .where(MarketBarRow.provider == provider)
        .where(MarketBarRow.symbol == symbol)
        .where(MarketBarRow.bar_interval == interval)
        .order_by(col(MarketBarRow.session_date))
    )
    rows = session.exec(statement).all()
    index = pd.DatetimeIndex([pd.Timestamp(row[0]) for row in rows], name="date").as_unit("ns")
    data = {c: [float(row[i + 1]) for row in rows] for i, c in enumerate(BAR_COLUMNS)}
    return pd.DataFrame(data, index=index, dtype=float), [(a, b) for a, b in ranges]


def save_bars(
    session: Session,
    provider: str,
    interval: str,
    bars: dict[str, pd.DataFrame],
    covered: dict[str, tuple[date, date]],
) -> None:
    """Upsert bars and record the ranges they cover completely (`covered` per symbol)."""
    rows = [
        {
            "provider": provider,
            "symbol": symbol,
            "bar_interval": interval,
            "session_date": stamp.date(),
            **{column: float(value) for column, value in zip(BAR_COLUMNS, values, strict=True)},
            "fetched_at": utcnow(),
        }
        for symbol, frame in bars.items()
        for stamp, values in zip(frame.index, frame[list(BAR_COLUMNS)].to_numpy(), strict=True)
    ]
    if rows:
        # One Core statement executed with many parameter sets (executemany / psycopg's batched
        # insertmanyvalues): a 1000-row VALUES clause built per chunk costs ~1 s to compile.
        statement = dialect_insert(session, MarketBarRow.__table__)  # type: ignore[attr-defined]
        statement = statement.on_conflict_do_update(
            index_elements=["provider", "symbol", "bar_interval", "session_date"],
            set_={c: statement.excluded[c] for c in (*BAR_COLUMNS, "fetched_at")},
        )
        session.connection().execute(statement, rows)
    for symbol, (start, end) in covered.items():
        if start <= end:
            session.add(
                MarketBarRangeRow(
                    provider=provider,
                    symbol=symbol,
                    bar_interval=interval,
                    start_date=start,
                    end_date=end,
                )
            )
    session.flush()


# --- news --------------------------------------------------------------------------------------
def news_range_covers(
    session: Session,
    provider: str,
    symbol: str,
    since: datetime | None,
    as_of: datetime,
    limit: int,
) -> bool:
    """True when a stored window answers "newest `limit` items in (since, as_of]" for `symbol`.

    A window (s, e] with e >= as_of answers it when it starts at or before `since`, or when it
    already holds at least `limit` items in (s, as_of] (older ones cannot make the top `limit`).
    """
    statement = (
        select(MarketNewsRangeRow)
        .where(MarketNewsRangeRow.provider == provider)
        .where(MarketNewsRangeRow.symbol == symbol)
        .where(MarketNewsRangeRow.end_at >= as_of)
    )
    for window in session.exec(statement):
        if window.start_at is None or (since is not None and window.start_at <= since):
            return True
        if (
            window.start_at < as_of
            and count_news(session, provider, symbol, window.start_at, as_of) >= limit
        ):
            return True
    return False


def count_news(
    session: Session, provider: str, symbol: str, after: datetime, until: datetime
) -> int:
    statement = (
        select(func.count())
        .select_from(MarketNewsSymbolRow)
        .join(
            MarketNewsRow,
            (MarketNewsRow.provider == MarketNewsSymbolRow.provider)  # type: ignore[arg-type]
            & (MarketNewsRow.news_id == MarketNewsSymbolRow.news_id),
        )
        .where(MarketNewsSymbolRow.provider == provider)
        .where(MarketNewsSymbolRow.symbol == symbol)
        .where(MarketNewsRow.published_at > after)
        .where(MarketNewsRow.published_at <= until)
    )
    return int(session.exec(statement).one())


def save_news(
    session: Session,
    provider: str,
    items: Iterable[NewsItem],
    windows: dict[str, tuple[datetime | None, datetime]],
) -> None:
    """Insert news items (existing ids are kept) and record the fetched windows per symbol."""
    items = list({item.id: item for item in items}.values())
    if items:
        rows = [
            {
                "provider": provider,
                "news_id": item.id,
                "symbols": " ".join(item.symbols),
                "published_at": item.published_at,
                "headline": item.headline,
                "summary": item.summary,
                "source": item.source[:128],
                "url": item.url,
            }
            for item in items
        ]
        news = dialect_insert(session, MarketNewsRow.__table__)  # type: ignore[attr-defined]
        connection = session.connection()
        connection.execute(
            news.on_conflict_do_nothing(index_elements=["provider", "news_id"]), rows
        )
        links = [
            {"provider": provider, "news_id": item.id, "symbol": symbol}
            for item in items
            for symbol in set(item.symbols)
        ]
        if links:
            statement = dialect_insert(session, MarketNewsSymbolRow.__table__)  # type: ignore[attr-defined]
            connection.execute(statement.on_conflict_do_nothing(), links)
    for symbol, (start_at, end_at) in windows.items():
        session.add(
            MarketNewsRangeRow(provider=provider, symbol=symbol, start_at=start_at, end_at=end_at)
        )
    session.flush()


def load_news(
    session: Session,
    provider: str,
    symbols: Sequence[str],
    since: datetime | None,
    as_of: datetime,
    limit: int,
) -> list[NewsItem]:
    """Stored items about any of `symbols` in (since, as_of], newest first, at most `limit`."""
    ids = (
        select(MarketNewsSymbolRow.news_id)
        .where(MarketNewsSymbolRow.provider == provider)
        .where(col(MarketNewsSymbolRow.symbol).in_(list(symbols)))
    )
    statement = (
        select(MarketNewsRow)
        .where(MarketNewsRow.provider == provider)
        .where(col(MarketNewsRow.news_id).in_(ids))
        .where(MarketNewsRow.published_at <= as_of)
        .order_by(col(MarketNewsRow.published_at).desc(), col(MarketNewsRow.news_id))
        .limit(limit)
    )
    if since is not None:
        statement = statement.where(MarketNewsRow.published_at > since)
    return [
        NewsItem(
            id=row.news_id,
            symbols=tuple(row.symbols.split()),
            published_at=row.published_at,
            headline=row.headline,
            summary=row.summary,
            source=row.source,
            url=row.url,
        )
        for row in session.exec(statement)
    ]
