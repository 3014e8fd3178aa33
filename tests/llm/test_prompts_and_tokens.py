"""Prompt templates by name with a version hash; local token counting with no network."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from orchestrator.errors import ConfigError
from orchestrator.llm import accounting, prompts
from orchestrator.llm.accounting import count_message_tokens, count_text_tokens
from orchestrator.llm.prompts import PROMPT_DIRS, render_prompt, render_text, template_source


def test_every_shipped_template_renders_and_has_a_version() -> None:
    folder = next(p for p in PROMPT_DIRS if p.is_dir())
    names = sorted(p.stem for p in folder.glob("*.j2"))
    assert {"chat_system", "decision", "reflection"} <= set(names)
    for name in names:
        source, version = template_source(name)
        assert len(version) == 12 and source


def test_system_and_user_blocks_become_messages() -> None:
    prompt = render_prompt(
        "reflection",
        {
            "symbol": "KO",
            "decided_at": datetime(2015, 1, 5, tzinfo=UTC),
            "decision": {"side": "buy"},
            "outcome": "+3%",
        },
    )
    messages = prompt.messages(system_suffix="Answer in JSON.")
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[0]["content"].endswith("Answer in JSON.")
    assert "Symbol: KO" in messages[1]["content"] and '{"side": "buy"}' in messages[1]["content"]


def test_the_version_follows_the_template_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prompts, "PROMPT_DIRS", (tmp_path,))
    prompts._environment.cache_clear()
    (tmp_path / "probe.j2").write_text("Hello {{ name }}")
    first = render_text("probe", {"name": "A"})
    (tmp_path / "probe.j2").write_text("Hi {{ name }}")
    prompts._environment.cache_clear()
    second = render_text("probe", {"name": "A"})
    assert first[0] == "Hello A" and second[0] == "Hi A" and first[1] != second[1]
    with pytest.raises(ConfigError, match=r"Prompt template 'nope' not found"):
        render_prompt("nope", {})
    with pytest.raises(ConfigError, match=r"'probe' failed to render: 'name' is undefined"):
        render_prompt("probe", {})
    prompts._environment.cache_clear()


def test_tokens_are_counted_with_the_shipped_encoding(monkeypatch: pytest.MonkeyPatch) -> None:
    # An empty tiktoken cache (a fresh machine): the encoding bundled with llama-index is used.
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "/nonexistent-cache")
    accounting._load_encoding.cache_clear()
    try:
        assert count_text_tokens("Apple closed at 128.03 dollars.") == 9
        assert count_text_tokens("Apple closed at 128.03 dollars.", "gpt-4") == 9
        messages = [{"role": "user", "content": "hi"}]
        assert count_message_tokens(messages) == 3 + 4 + 1
    finally:
        accounting._load_encoding.cache_clear()


def test_without_any_encoding_file_tokens_are_estimated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "/nonexistent-cache")
    monkeypatch.setattr(accounting, "_bundled_cache_dir", lambda: None)
    accounting._load_encoding.cache_clear()
    try:
        assert count_text_tokens("x" * 40) == 10  # 4 characters per token
        assert count_text_tokens("") == 0
    finally:
        accounting._load_encoding.cache_clear()
