"""Analysis storage: the per-item sentiment cache and the registry of saved forecast models.

`sentiment_item` holds one classification per (normalised-text hash, engine), so an item repeated
across cycles, tickers or retweets is classified once. `forecast_model` records each trained
quantitative model: where its file is, the window of samples it learned from and when it was
trained, so a later run reuses it until it is due for retraining.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Date, UniqueConstraint
from sqlmodel import Field, Session, SQLModel, col, select

from orchestrator.store.base import dialect_insert, utc_field, utcnow


class SentimentItemRow(SQLModel, table=True):
    __tablename__ = "sentiment_item"
    __table_args__ = (UniqueConstraint("text_hash", "engine", name="uq_sentiment_item_hash"),)

    id: int | None = Field(default=None, primary_key=True)
    text_hash: str = Field(max_length=64)  # sha256 of the normalised text
    engine: str = Field(max_length=128)  # "lexicon-v1" or the LLM model name
    label: str = Field(max_length=16)
    score: float
    created_at: datetime = utc_field(default_now=True)


class ForecastModelRow(SQLModel, table=True):
    __tablename__ = "forecast_model"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, index=True)  # model family + feature version
    path: str = Field(max_length=512)
    trained_as_of: datetime = utc_field(index=True)
    train_start: date = Field(sa_column=Column(Date, nullable=False))
    train_end: date = Field(sa_column=Column(Date, nullable=False))  # last outcome known
    n_samples: int
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = utc_field(default_now=True)


@dataclass(frozen=True)
class CachedSentiment:
    label: str
    score: float


@dataclass(frozen=True)
class SavedModel:
    """A trained forecast model on disk and the window it learned from."""

    name: str
    path: str
    trained_as_of: datetime
    train_start: date
    train_end: date
    n_samples: int
    details: dict[str, Any]


def cached_sentiments(
    session: Session, hashes: Iterable[str], engine: str
) -> dict[str, CachedSentiment]:
    """Classifications already stored for `hashes` under `engine`, by hash."""
    return cached_sentiments_by_engine(session, hashes, [engine])[engine]


def cached_sentiments_by_engine(
    session: Session, hashes: Iterable[str], engines: Sequence[str]
) -> dict[str, dict[str, CachedSentiment]]:
    """Classifications already stored for `hashes` under each of `engines` (one query: a cycle
    asks for every ticker, under the model's name and the lexicon's)."""
    wanted = sorted(set(hashes))
    found: dict[str, dict[str, CachedSentiment]] = {engine: {} for engine in engines}
    # Chunked so a large batch stays under every backend's bound-parameter limit.
    for start in range(0, len(wanted), 500):
        # Columns, not ORM rows.
        statement = select(
            SentimentItemRow.engine,
            SentimentItemRow.text_hash,
            SentimentItemRow.label,
            SentimentItemRow.score,
        ).where(
            col(SentimentItemRow.engine).in_(list(found)),
            col(SentimentItemRow.text_hash).in_(wanted[start : start + 500]),
        )
        for engine, key, label, score in session.exec(statement):
            found[engine][key] = CachedSentiment(label, score)
    return found


def save_sentiments(session: Session, engine: str, results: Mapping[str, CachedSentiment]) -> int:
    """Store new classifications; a hash already stored under `engine` keeps its first answer
    (also when another ticker stored it a moment ago). Returns how many rows were added.
    One Core statement for the batch: building an ORM object per row was a sixth of the CPU a
    50-ticker cycle spends analysing."""
    if not results:
        return 0
    now = utcnow()
    rows = [
        {"text_hash": key, "engine": engine, "label": r.label, "score": r.score, "created_at": now}
        for key, r in sorted(results.items())
    ]
    statement = dialect_insert(session, SentimentItemRow.__table__)  # type: ignore[attr-defined]
    statement = statement.on_conflict_do_nothing(index_elements=["text_hash", "engine"])
    # RETURNING counts what was added: a batched insert's rowcount is not reliable on psycopg.
    added = session.connection().execute(statement.returning(statement.table.c.id), rows)
    return len(added.all())


def record_forecast_model(session: Session, model: SavedModel) -> None:
    session.add(
        ForecastModelRow(
            name=model.name,
            path=model.path,
            trained_as_of=model.trained_as_of,
            train_start=model.train_start,
            train_end=model.train_end,
            n_samples=model.n_samples,
            details=model.details,
        )
    )
    session.flush()


def latest_forecast_model(session: Session, name: str, as_of: datetime) -> SavedModel | None:
    """The newest model of `name` trained at or before `as_of` (never one from the future)."""
    statement = (
        select(ForecastModelRow)
        .where(ForecastModelRow.name == name, ForecastModelRow.trained_as_of <= as_of)
        .order_by(col(ForecastModelRow.trained_as_of).desc(), col(ForecastModelRow.id).desc())
        .limit(1)
    )
    row = session.exec(statement).first()
    if row is None:
        return None
    return SavedModel(
        row.name,
        row.path,
        row.trained_as_of,
        row.train_start,
        row.train_end,
        row.n_samples,
        dict(row.details),
    )
