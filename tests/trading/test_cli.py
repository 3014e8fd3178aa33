"""`fingpt portfolio|orders|risk|approvals|killswitch` on the offline sample (SQLite, SimBroker)."""

from __future__ import annotations

import asyncio

import pytest
from typer.testing import CliRunner

import orchestrator.cli  # noqa: F401  (registers every command)
from orchestrator.cli.app import app
from orchestrator.config import get_settings
from orchestrator.errors import NotFoundError
from orchestrator.execution import process_decision
from orchestrator.runtime import build_runtime
from orchestrator.service.facade import demo_clock
from tests.trading.helpers import buy, cycle, decision


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("DATA_PROVIDER", "offline")
    monkeypatch.setenv("TRADING_HOURS_ONLY", "false")
    monkeypatch.setenv("METRICS_PORT", "0")
    monkeypatch.setenv("COLUMNS", "200")  # whole table rows, not ellipses
    get_settings.cache_clear()
    return CliRunner()


def propose_one() -> str:
    """A cycle's buy of 5 AAPL waiting for approval (APPROVAL_POLICY=confirm_all by default)."""

    async def run() -> str:
        runtime = await build_runtime(get_settings(), clock=demo_clock(), with_knowledge=False)
        try:
            as_of = runtime.clock.now()
            (result,) = await process_decision(
                runtime,
                decision(buy(quantity=5)),
                cycle(runtime.engine, as_of),
                holdings={},
                as_of=as_of,
            )
            return result.approval_id or ""
        finally:
            await runtime.close()

    return asyncio.run(run())


def test_approvals_from_the_command_line(offline: CliRunner) -> None:
    empty = offline.invoke(app, ["approvals", "list"])
    assert empty.exit_code == 0 and "No pending approvals." in empty.output

    approval_id = propose_one()
    listed = offline.invoke(app, ["approvals", "list"])
    assert approval_id in listed.output and "AAPL" in listed.output

    approved = offline.invoke(app, ["approvals", "approve", approval_id])
    assert approved.exit_code == 0, approved.output
    assert "Buy 5 AAPL sent" in approved.output

    orders = offline.invoke(app, ["orders"])
    assert "AAPL" in orders.output and "submitted" in orders.output

    unknown = offline.invoke(app, ["approvals", "reject", "ZZZZZZ"])
    assert isinstance(unknown.exception, NotFoundError)


def test_killswitch_portfolio_and_risk(offline: CliRunner) -> None:
    on = offline.invoke(app, ["killswitch", "on", "--reason", "testing"])
    assert on.exit_code == 0 and "Kill switch ON" in on.output
    risk = offline.invoke(app, ["risk"])
    assert "Kill switch ON" in risk.output and "MAX_ORDER_NOTIONAL" in risk.output
    assert "crisis x0.3" in risk.output
    off = offline.invoke(app, ["killswitch", "off"])
    assert "Kill switch off" in off.output
    bad = offline.invoke(app, ["killswitch", "maybe"])
    assert bad.exit_code != 0

    portfolio = offline.invoke(app, ["portfolio"])
    assert "No open positions." in portfolio.output and "Cash 100,000.00" in portfolio.output
