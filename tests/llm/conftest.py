"""Fixtures for the LLM tests: the fake OpenAI server (real SDK) and a client built on it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from orchestrator.config import load_settings
from orchestrator.llm.openai_client import OpenAIClient
from tests.fakes.openai_server import (  # noqa: F401
    FakeOpenAI,
    close_openai_clients,
    fake_openai,
    fake_openai_factory,
)

ClientFactory = Callable[..., OpenAIClient]


@pytest.fixture
def make_client(sqlite_engine: Engine) -> ClientFactory:
    """`make_client(**settings)` -> an OpenAIClient on the SQLite test database, fast retries."""

    def build(engine: Engine | None = sqlite_engine, **overrides: Any) -> OpenAIClient:
        return OpenAIClient(load_settings(**overrides), engine, retry_base_seconds=0.01)

    return build


__all__ = ["FakeOpenAI"]
