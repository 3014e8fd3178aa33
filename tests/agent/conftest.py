"""Agent fixtures: the fake OpenAI server, a registry of the market tools, a tool context."""

from __future__ import annotations

import pytest

from orchestrator.config import load_settings
from orchestrator.tools import ToolContext, ToolRegistry
from orchestrator.tools import market as _market_tools  # noqa: F401 - registers the tools
from orchestrator.tools.registry import _DEFAULT
from tests.fakes.openai_server import close_openai_clients, fake_openai, fake_openai_factory  # noqa: F401
from tests.tools.fake_market import AS_OF, FakeMarketData

MARKET_TOOLS = ["get_quote", "get_price_history", "get_news", "get_company_profile"]


def market_registry() -> ToolRegistry:
    """Only the market-data tools (the full default registry also loads the RAG stack)."""
    return _DEFAULT.subset([*MARKET_TOOLS, "get_fundamentals"])


@pytest.fixture
def market() -> FakeMarketData:
    return FakeMarketData()


@pytest.fixture
def ctx(market: FakeMarketData) -> ToolContext:
    return ToolContext(settings=load_settings(), market_data=market, as_of=AS_OF)
