"""`fingpt data ...` and `fingpt db upgrade` as a user runs them (through the real entry point)."""

from __future__ import annotations

import sys

import pytest

from orchestrator.cli import main


def _run(
    args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["fingpt", *args])
    monkeypatch.setenv("COLUMNS", "120")
    try:
        main()
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_PROVIDER", "offline")


def test_bars_table(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = _run(
        ["data", "bars", "AAPL", "MSFT", "--start", "2015-01-02", "--end", "2015-01-06"],
        capsys,
        monkeypatch,
    )
    assert code == 0
    assert "AAPL" in out and "MSFT" in out
    assert "2015-01-02" in out and "2015-01-06" in out and "2015-01-07" not in out
    assert "103.87" in out  # AAPL's adjusted close on 2015-01-02


def test_news_table_is_point_in_time(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = _run(
        ["data", "news", "aapl", "--limit", "3", "--as-of", "2015-03-02"], capsys, monkeypatch
    )
    assert code == 0 and "AAPL news" in out
    assert out.count("2015-03-02") + out.count("2015-03-01") >= 1
    assert "2015-03-03" not in out


BARS = ["data", "bars"]


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ([*BARS, "ZZZZ", "--start", "2015-01-02", "--end", "2015-01-09"], "unknown ticker ZZZZ"),
        (
            [*BARS, "AAPL", "--start", "2015-02-30", "--end", "2015-03-09"],
            "--start '2015-02-30' is not a valid date",
        ),
        (
            [*BARS, "AAPL", "--start", "2015-03-09", "--end", "2015-01-09"],
            "start 2015-03-09 is after end",
        ),
        ([*BARS, "AAPL", "--start", "2019-01-02", "--end", "2019-01-09"], "no bars for AAPL"),
        (["data", "news", "AAPL", "--as-of", "yesterday"], "--as-of 'yesterday' is not a valid"),
        (["data", "news", "AAPL", "--limit", "0"], "--limit must be at least 1"),
    ],
)
def test_errors_exit_non_zero_with_one_line(capsys, monkeypatch, args, reason) -> None:  # type: ignore[no-untyped-def]
    code, out, err = _run(args, capsys, monkeypatch)
    assert code == 1
    assert reason in err.replace("\n", " ")
    assert err.startswith("error:") and "Traceback" not in err and out == ""


def test_no_network_is_a_one_line_error(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import yfinance

    from tests.data.test_yahoo import FakeDownload

    fake = FakeDownload()
    fake.offline = True
    monkeypatch.setattr(yfinance, "download", fake)
    monkeypatch.setenv("DATA_PROVIDER", "yfinance")
    code, _, err = _run(
        ["data", "bars", "AAPL", "--start", "2024-01-02", "--end", "2024-01-09"],
        capsys,
        monkeypatch,
    )
    assert code == 1
    assert "cannot reach Yahoo Finance for AAPL: check the network" in err.replace("\n", " ")


def test_db_upgrade(capsys, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = _run(["db", "upgrade"], capsys, monkeypatch)
    assert code == 0 and "Database is up to date" in out
    assert (tmp_path / "var" / "fingpt.db").is_file()


def test_a_bad_setting_stops_any_command(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATA_PROVIDER", "bloomberg")
    code, _, err = _run(["data", "news", "AAPL"], capsys, monkeypatch)
    assert code == 1
    assert "DATA_PROVIDER='bloomberg'" in err and "yfinance" in err
