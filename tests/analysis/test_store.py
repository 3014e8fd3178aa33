"""The sentiment cache and the forecast model registry on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from orchestrator.store import analysis as store
from orchestrator.store.db import session_scope


def test_sentiment_cache_stores_once_per_engine(engine) -> None:
    with session_scope(engine) as session:
        added = store.save_sentiments(
            session, "lexicon-v1", {"h1": store.CachedSentiment("positive", 0.7)}
        )
        again = store.save_sentiments(
            session,
            "lexicon-v1",
            {
                "h1": store.CachedSentiment("negative", -0.9),
                "h2": store.CachedSentiment("neutral", 0.0),
            },
        )
    assert (added, again) == (1, 1)
    with session_scope(engine) as session:
        found = store.cached_sentiments(session, ["h1", "h2", "h3"], "lexicon-v1")
        other = store.cached_sentiments(session, ["h1"], "gpt-4o-mini")
        engines = ["gpt-4o-mini", "lexicon-v1"]
        both = store.cached_sentiments_by_engine(session, ["h2", "h3"], engines)
    assert found["h1"] == store.CachedSentiment("positive", 0.7)  # the first answer stays
    assert set(found) == {"h1", "h2"} and other == {}
    assert both == {"gpt-4o-mini": {}, "lexicon-v1": {"h2": store.CachedSentiment("neutral", 0.0)}}


def test_model_registry_never_returns_a_later_model(engine) -> None:
    first = datetime(2015, 1, 5, 21, tzinfo=UTC)

    def saved(at: datetime) -> store.SavedModel:
        return store.SavedModel(
            "quant", f"/m/{at.date()}", at, date(2010, 1, 1), at.date(), 100, {"k": 1}
        )

    with session_scope(engine) as session:
        store.record_forecast_model(session, saved(first))
        store.record_forecast_model(session, saved(first + timedelta(days=30)))
    with session_scope(engine) as session:
        assert store.latest_forecast_model(session, "quant", first - timedelta(days=1)) is None
        mid = store.latest_forecast_model(session, "quant", first + timedelta(days=10))
        late = store.latest_forecast_model(session, "quant", first + timedelta(days=40))
        other = store.latest_forecast_model(session, "other", first + timedelta(days=40))
    assert mid is not None and mid.path == "/m/2015-01-05" and mid.details == {"k": 1}
    assert late is not None and late.path == "/m/2015-02-04"
    assert other is None
