from __future__ import annotations

import re

import pytest

from orchestrator.config import load_settings
from orchestrator.errors import ConfigError


def test_defaults_are_safe() -> None:
    settings = load_settings()
    assert settings.broker == "sim"
    assert settings.approval_policy == "confirm_all"
    assert not settings.llm_enabled
    assert not settings.live_trading
    assert settings.database_url.startswith("sqlite:///")


def test_bad_value_names_the_variable_and_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_POSITION_PCT", "lots")
    with pytest.raises(ConfigError, match=r"MAX_POSITION_PCT='lots'.*number"):
        load_settings()


def test_bad_approval_policy_says_what_is_expected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPROVAL_POLICY", "sometimes")
    with pytest.raises(ConfigError, match=r"APPROVAL_POLICY='sometimes'.*confirm_above"):
        load_settings()


def test_secrets_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret")
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:hunter2@db:5432/fingpt")
    shown = load_settings().masked()
    assert "sk-very-secret" not in str(shown)
    assert "hunter2" not in str(shown)
    assert shown["OPENAI_API_KEY"] == "********"


def test_secret_value_in_error_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_ADMIN_USER_IDS", "12,abc")
    with pytest.raises(ConfigError, match="TELEGRAM_ADMIN_USER_IDS"):
        load_settings()


def test_comma_lists_and_universe_file(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "u.txt").write_text("aapl\nmsft\n")
    monkeypatch.setenv("UNIVERSE", f"@{tmp_path / 'u.txt'}")
    monkeypatch.setenv("TELEGRAM_ALLOWED_CHAT_IDS", "1, 2")
    settings = load_settings()
    assert settings.universe == ["AAPL", "MSFT"]
    assert settings.telegram_allowed_chat_ids == [1, 2]


def test_live_needs_both_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADING_MODE", "live")
    assert not load_settings().live_trading
    monkeypatch.setenv("ALPACA_PAPER", "false")
    assert load_settings().live_trading


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("DATA_PROVIDER", "bloomberg", r"'yfinance', 'alpaca', 'csv' or 'offline'"),
        ("LLM_CACHE", "sometimes", r"'off', 'record' or 'replay'"),
        ("ALPACA_PAPER", "perhaps", r"valid boolean"),
        ("LLM_CYCLE_TOKEN_BUDGET", "10", r"greater than or equal to 1000"),
        ("METRICS_PORT", "99999", r"less than or equal to 65535"),
        ("LLM_PRICES_JSON", '{"gpt-4o": 3}', r"usd_per_1M_in, usd_per_1M_out"),
        ("UNIVERSE", "@/nowhere/u.txt", r"universe file /nowhere/u.txt does not exist"),
    ],
)
def test_each_bad_value_names_variable_value_and_expectation(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as error:
        load_settings()
    message = str(error.value)
    assert message.startswith(f"Invalid setting {name}=")
    assert repr(value) in message or name == "UNIVERSE"
    assert re.search(expected, message), message


def test_config_show_masks_every_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from orchestrator.cli import app

    secrets = {
        "OPENAI_API_KEY": "sk-live-abc123",
        "LLM_API_KEY_DECISION": "sk-decision-xyz",
        "TELEGRAM_BOT_TOKEN": "123456:telegram-secret",
        "ALPACA_SECRET_KEY": "alpaca-secret-value",
        "QDRANT_API_KEY": "qdrant-secret-value",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:pg-password@db:5432/fingpt")
    monkeypatch.setenv("REDIS_URL", "redis://:redis-password@cache:6379/0")
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(app, ["config", "show"])
    assert result.exit_code == 0, result.output
    for value in [*secrets.values(), "pg-password", "redis-password"]:
        assert value not in result.output
    assert "postgresql://app:********@db:5432/fingpt" in result.output
    assert "LLM_MODEL " in result.output and "gpt-4o-mini" in result.output
    assert result.output.count("********") >= len(secrets) + 2


def test_dotenv_file_is_read_and_environment_wins(
    isolated_env, monkeypatch: pytest.MonkeyPatch
) -> None:
    (isolated_env / ".env").write_text("LLM_MODEL=from-dotenv\nMAX_CANDIDATES=4\n")
    monkeypatch.setenv("MAX_CANDIDATES", "6")
    settings = load_settings()
    assert settings.llm_model == "from-dotenv"
    assert settings.max_candidates == 6


def test_a_bad_value_in_dotenv_is_named_too(isolated_env) -> None:
    (isolated_env / ".env").write_text("BROKER=ibkr\n")
    with pytest.raises(ConfigError, match=r"BROKER='ibkr': Input should be 'sim' or 'alpaca'"):
        load_settings()
