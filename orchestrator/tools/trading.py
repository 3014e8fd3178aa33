"""Trading tools: read the portfolio and orders; propose a trade; cancel an order (admin).

The agent can never place an order directly. `propose_trade` goes through the same gate as a
cycle's decision (validation, the risk manager, the approval policy) and, because a chat turn may
have read outside text, a trade proposed here always waits for a person's approval even under
`APPROVAL_POLICY=auto`. The tools need the process's runtime in `ctx.extras["runtime"]`
(the service facade puts it there); without it they say so.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from orchestrator.errors import ConfigError, PermissionDenied
from orchestrator.tools.registry import ToolContext, tool

MAX_ORDERS = 50


def _runtime(ctx: ToolContext) -> Any:
    runtime = ctx.extras.get("runtime")
    if runtime is None:
        raise ConfigError("trading tools need the service's runtime (ask through the service)")
    return runtime


class NoArgs(BaseModel):
    pass


class OrdersArgs(BaseModel):
    limit: int = Field(10, ge=1, le=MAX_ORDERS, description="How many recent orders")


class ProposeArgs(BaseModel):
    symbol: str = Field(description="Ticker")
    side: str = Field(description="buy or sell")
    quantity: float | None = Field(None, description="Shares; null when target_weight is given")
    target_weight: float | None = Field(
        None, description="Wanted weight of the position after the trade, 0-1 of equity"
    )
    order_type: str = Field("market", description="market or limit")
    limit_price: float | None = Field(None, description="Required for limit orders")
    confidence: float = Field(0.5, description="0-1")
    rationale: str = Field("", description="Why, citing the evidence")


class CancelArgs(BaseModel):
    client_order_id: str = Field(description="The order's client order id (from get_orders)")


@tool(name="get_portfolio", description="Cash, equity, exposure and positions at current prices.")
async def get_portfolio(args: NoArgs, ctx: ToolContext) -> dict[str, Any]:
    from orchestrator.service import trading

    view = await trading.portfolio(_runtime(ctx))
    return view.model_dump(mode="json")


@tool(name="get_orders", description="The most recent orders, newest first, with status.")
async def get_orders(args: OrdersArgs, ctx: ToolContext) -> list[dict[str, Any]]:
    from orchestrator.service import trading

    views = await trading.orders(_runtime(ctx), limit=args.limit)
    return [view.model_dump(mode="json") for view in views]


@tool(
    name="propose_trade",
    description=(
        "Propose one trade. It is checked by the risk manager and waits for a person's "
        "approval; it is never sent directly. Returns the verdict and the approval id."
    ),
    acting=True,
)
async def propose_trade(args: ProposeArgs, ctx: ToolContext) -> dict[str, Any]:
    from orchestrator.execution import propose_trade as gate

    runtime = _runtime(ctx)
    settings = runtime.settings
    if settings.approval_policy == "auto":
        settings = settings.model_copy(update={"approval_policy": "confirm_all"})
    record = await gate(
        replace(runtime, settings=settings),
        args.model_dump(),
        as_of=ctx.as_of or datetime.now(UTC),
        source="tool",
    )
    return record.model_dump(mode="json", exclude_defaults=True)


@tool(name="cancel_order", description="Cancel an open order (admins only).", acting=True)
async def cancel_order(args: CancelArgs, ctx: ToolContext) -> dict[str, Any]:
    from orchestrator.service import trading

    if not ctx.user_is_admin:
        raise PermissionDenied("only an admin may cancel orders")
    user = f"agent for chat {ctx.chat_id}" if ctx.chat_id else "agent"
    view = await trading.cancel_order(_runtime(ctx), args.client_order_id, user=user)
    return view.model_dump(mode="json")
