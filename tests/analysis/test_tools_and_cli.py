"""The agent tools through the registry, and `fingpt eval ...` as a user runs them, on the bundled
sample (and the Twitter set from ../shared/data when it is there)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.config import Settings
from orchestrator.data.offline import SAMPLE_DIR, OfflineMarketData, sample_end_as_of
from orchestrator.errors import DataError
from orchestrator.tools import ToolContext, default_registry

runner = CliRunner()


@pytest.fixture
def ctx(sqlite_engine) -> ToolContext:
    return ToolContext(
        settings=Settings(max_candidates=3),
        engine=sqlite_engine,
        market_data=OfflineMarketData(),
        as_of=sample_end_as_of(),
    )


async def test_select_stocks_tool(ctx: ToolContext) -> None:
    reply = json.loads(await default_registry().execute("select_stocks", "{}", ctx))
    assert len(reply["candidates"]) == 3 and reply["screened"] == 15
    assert {"mom_20d", "vol_20d", "news_count"} <= set(reply["candidates"][0]["factors"])
    scores = [c["score"] for c in reply["candidates"]]
    assert scores == sorted(scores, reverse=True)
    narrow = json.loads(
        await default_registry().execute(
            "select_stocks", '{"universe": ["aapl", "msft"], "max_candidates": 1}', ctx
        )
    )
    assert len(narrow["candidates"]) == 1 and narrow["candidates"][0]["symbol"] in ("AAPL", "MSFT")


async def test_analyze_sentiment_tool_wraps_headlines(ctx: ToolContext) -> None:
    reply = json.loads(
        await default_registry().execute("analyze_sentiment", '{"symbol": "AAPL", "days": 7}', ctx)
    )
    assert reply["engine"] == "lexicon-v1" and reply["items"] > 0
    assert -1 <= reply["score"] <= 1
    assert all(item["headline"].startswith("<<untrusted") for item in reply["newest"])


async def test_forecast_tool_and_unknown_ticker(ctx: ToolContext) -> None:
    reply = json.loads(await default_registry().execute("forecast", '{"symbol": "MSFT"}', ctx))
    assert 0 <= reply["prob_up"] <= 1 and reply["bin"][0] in "UD"
    assert len(reply["weekly_moves"]) == 4
    error = await default_registry().execute("forecast", '{"symbol": "ZZZZ"}', ctx)
    assert error.startswith("error:") and "ZZZZ" in error


def _invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def test_eval_sentiment_json_and_table(tmp_path: Path) -> None:
    data = tmp_path / "s.csv"
    data.write_text(
        "text,label\n"
        "Acme beats estimates and raises guidance,1\n"
        "Acme downgraded to sell after guidance cut,0\n"
        "Acme to present at conference on Tuesday,2\n"
    )
    out = json.loads(
        _invoke(
            "eval",
            "sentiment",
            "--file",
            str(data),
            "--label-map",
            "0=negative,1=positive,2=neutral",
            "--json",
        )
    )
    assert out["items"] == 3 and out["accuracy"] == 1.0
    assert out["confusion"]["negative"]["negative"] == 1
    table = _invoke(
        "eval", "sentiment", "--file", str(data), "--label-map", "0=negative,1=positive,2=neutral"
    )
    assert "accuracy 1.0000" in table and "Confusion matrix" in table


def test_eval_sentiment_bad_labels_say_what_to_do(tmp_path: Path) -> None:
    data = tmp_path / "s.csv"
    data.write_text("text,label\nAcme beats,1\n")
    result = runner.invoke(app, ["eval", "sentiment", "--file", str(data)])
    assert isinstance(result.exception, DataError)
    assert "--label-map" in str(result.exception)


def test_eval_sentiment_on_the_twitter_valid_set(shared_data: Path) -> None:
    path = shared_data / "sentiment/twitter_financial_news/sent_valid.csv"
    out = json.loads(
        _invoke(
            "eval",
            "sentiment",
            "--file",
            str(path),
            "--label-map",
            "0=negative,1=positive,2=neutral",
            "--json",
        )
    )
    assert out["items"] == 2388
    assert out["accuracy"] >= 0.75  # the target for the offline engine


def test_eval_forecast_and_selection_on_the_sample() -> None:
    out = json.loads(
        _invoke(
            "eval", "forecast", "--data-dir", str(SAMPLE_DIR), "--start", "2015-09-01",
            "--end", "2015-11-30", "--retrain-sessions", "100", "--json",
        )
    )  # fmt: skip
    names = [s["name"] for s in out["scores"]]
    assert names == ["quant model", "always up", "last-week momentum"]
    assert out["tickers"] == 15 and out["ticker_weeks"] == 15 * out["weeks"]
    assert all(0 <= s["binary_accuracy"] <= 1 for s in out["scores"])
    table = _invoke(
        "eval", "selection", "--data-dir", str(SAMPLE_DIR), "--start", "2015-03-01",
        "--end", "2015-10-31",
    )  # fmt: skip
    assert "top decile" in table and "hit rate" in table
