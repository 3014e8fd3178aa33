"""Market data and news providers behind one `MarketData` protocol, with a read-through cache.

`build_market_data(settings, engine=None, *, clock=None)` picks the provider from DATA_PROVIDER.
Providers import their SDKs lazily, so importing this package stays cheap.
"""

from __future__ import annotations

from orchestrator.data.base import BAR_COLUMNS, MarketData
from orchestrator.data.factory import build_market_data

__all__ = ["BAR_COLUMNS", "MarketData", "build_market_data"]
