"""Trading: proposals, the risk manager, approvals and the brokers (simulated, Alpaca).

`build_broker(settings, engine, market_data, *, bus, clock)` is the one place a broker is chosen:
`SimBroker` unless BROKER=alpaca; Alpaca is paper unless live is opted into twice
(ALPACA_PAPER=false and TRADING_MODE=live). Brokers import their SDKs lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from orchestrator.clock import Clock
    from orchestrator.config import Settings
    from orchestrator.data.base import MarketData
    from orchestrator.events import EventBus
    from orchestrator.trading.broker import Broker

__all__ = ["build_broker"]


def build_broker(
    settings: Settings,
    engine: Engine,
    market_data: MarketData,
    *,
    bus: EventBus | None,
    clock: Clock,
) -> Broker:
    """The broker the settings ask for (not yet started: call `await broker.start()`).

    Raises `ConfigError` for a half-set live switch (either ALPACA_PAPER=false or TRADING_MODE=live
    alone), for TRADING_MODE=live without BROKER=alpaca (the simulator cannot trade real money,
    so asking for it is a mistake worth stopping on), and for missing Alpaca keys.
    """
    if settings.broker == "alpaca":
        from orchestrator.trading.alpaca import AlpacaBroker

        return AlpacaBroker(
            engine, settings, bus=bus, poll_interval_seconds=settings.alpaca_poll_seconds
        )
    if settings.trading_mode == "live":
        raise ConfigError(
            "TRADING_MODE=live needs BROKER=alpaca and ALPACA_PAPER=false; "
            "BROKER=sim only simulates. Unset TRADING_MODE for the simulator."
        )
    from orchestrator.trading.sim import SimBroker

    return SimBroker(
        engine,
        market_data,
        clock=clock,
        bus=bus,
        slippage_bps=settings.sim_slippage_bps,
        commission_per_order=settings.sim_commission_per_order,
        starting_cash=settings.sim_starting_cash,
    )
