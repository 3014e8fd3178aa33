"""Choose the market data provider from settings and wrap remote ones in the database cache."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from orchestrator.clock import Clock
from orchestrator.config import Settings
from orchestrator.data.base import MarketData
from orchestrator.errors import ConfigError


def build_market_data(
    settings: Settings, engine: Engine | None = None, *, clock: Clock | None = None
) -> MarketData:
    """The provider named by DATA_PROVIDER.

    - `offline`: the bundled sample; `csv`: the folder DATA_DIR. Both are local and keep parsed
      files in memory, so they skip the database cache.
    - `yfinance`, `alpaca`: wrapped in `CachedMarketData` on `engine` (default: the configured,
      migrated database), so repeated requests do not reach the network.
    `clock` tells the cache and the providers what "now" is (default: the wall clock).

    Raises `ConfigError` for a missing DATA_DIR or missing Alpaca keys.
    """
    provider = settings.data_provider
    if provider == "offline":
        from orchestrator.data.offline import OfflineMarketData

        return OfflineMarketData()
    if provider == "csv":
        from orchestrator.data.csv_provider import CsvMarketData

        if settings.data_dir is None:
            raise ConfigError("DATA_PROVIDER=csv needs DATA_DIR (a folder of <TICKER>.csv files)")
        if not settings.data_dir.is_dir():
            raise ConfigError(f"Invalid setting DATA_DIR={str(settings.data_dir)!r}: not a folder")
        return CsvMarketData(settings.data_dir)
    inner: MarketData
    if provider == "yfinance":
        from orchestrator.data.yahoo import YFinanceMarketData

        inner = YFinanceMarketData(clock=clock)
    else:
        from orchestrator.data.alpaca import AlpacaMarketData

        inner = AlpacaMarketData(settings, clock=clock)
    from orchestrator.data.cache import CachedMarketData
    from orchestrator.store.db import get_engine

    return CachedMarketData(inner, engine or get_engine(settings), clock=clock)
