"""The agent's trading tools: reads, a proposal that waits for a person, admin-only cancel."""

from __future__ import annotations

import json
from typing import Any

from orchestrator.store.db import session_scope
from orchestrator.store.trading import pending_approvals, recent_orders
from orchestrator.tools import ToolContext, default_registry
from tests.cycle.conftest import make_runtime, sample_settings, shared_var_dir  # noqa: F401


async def _call(name: str, args: dict[str, Any], runtime: Any, *, admin: bool = True) -> str:
    ctx = ToolContext(
        settings=runtime.settings,
        engine=runtime.engine,
        market_data=runtime.market_data,
        as_of=runtime.clock.now(),
        chat_id="42",
        user_is_admin=admin,
        extras={"runtime": runtime},
    )
    return await default_registry().execute(name, json.dumps(args), ctx)


async def test_a_proposed_trade_waits_for_approval_even_under_the_auto_policy(
    make_runtime,  # noqa: F811
) -> None:
    runtime = await make_runtime(sample_settings(approval_policy="auto"))

    answer = json.loads(
        await _call(
            "propose_trade",
            {
                "symbol": "AAPL",
                "side": "buy",
                "quantity": 5,
                "confidence": 0.6,
                "rationale": "the user asked",
            },
            runtime,
        )
    )

    assert answer["approval_status"] == "pending" and answer["approval_id"]
    with session_scope(runtime.engine) as session:
        assert [a.symbol for a in pending_approvals(session)] == ["AAPL"]
        assert recent_orders(session, limit=10) == []


async def test_a_proposal_outside_the_universe_is_dropped_with_its_reason(
    make_runtime,  # noqa: F811
) -> None:
    runtime = await make_runtime()

    answer = json.loads(
        await _call("propose_trade", {"symbol": "ZZZZ", "side": "buy", "quantity": 1}, runtime)
    )

    assert "ZZZZ" in answer["dropped_reason"] and "order_id" not in answer


async def test_reads_answer_and_cancel_is_for_admins_only(make_runtime) -> None:  # noqa: F811
    runtime = await make_runtime()

    portfolio = json.loads(await _call("get_portfolio", {}, runtime))
    refused = await _call("cancel_order", {"client_order_id": "x"}, runtime, admin=False)

    assert portfolio["cash"] == runtime.settings.sim_starting_cash
    assert refused.startswith("error:") and "only an admin" in refused


async def test_without_the_service_the_tools_say_so(make_runtime) -> None:  # noqa: F811
    runtime = await make_runtime()
    ctx = ToolContext(settings=runtime.settings, as_of=runtime.clock.now())

    answer = await default_registry().execute("get_orders", "{}", ctx)

    assert answer.startswith("error:") and "runtime" in answer
