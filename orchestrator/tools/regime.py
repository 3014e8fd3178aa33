"""Market regime tool (read-only): the regime label at the context's moment and its numbers.

Reads `ctx.market_data` at `ctx.as_of` (point in time) over the configured universe; the
classification and its thresholds live in `orchestrator.analysis.regime`. Failure contract: a
missing provider or too short a history raises `DataError`, which the registry turns into a short
"error: ..." for the model.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from orchestrator.analysis.regime import market_regime
from orchestrator.data.benchmark import BENCHMARK_SYMBOL
from orchestrator.errors import DataError
from orchestrator.tools.registry import ToolContext, tool


class RegimeArgs(BaseModel):
    benchmark: str | None = Field(
        None, description="Benchmark ticker (default SPY; an equal-weight index if unavailable)"
    )


@tool(
    name="get_market_regime",
    description=(
        "Market regime now (risk_on, neutral, risk_off or crisis) with the numbers behind it: "
        "trend vs 50/200-day averages, realised volatility and its change, breadth, drawdown."
    ),
)
def get_market_regime(args: RegimeArgs, ctx: ToolContext) -> dict[str, Any]:
    if ctx.market_data is None:
        raise DataError("market data is not configured here (set DATA_PROVIDER)")
    universe = list(getattr(ctx.settings, "universe", []) or [])
    regime = market_regime(
        ctx.market_data,
        universe,
        as_of=ctx.as_of or datetime.now(UTC),
        benchmark=(args.benchmark or BENCHMARK_SYMBOL).strip().upper(),
    )
    return regime.model_dump(mode="json", exclude={"as_of"})
