from __future__ import annotations

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
