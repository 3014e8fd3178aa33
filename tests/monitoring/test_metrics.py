from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from orchestrator import monitoring
from orchestrator.event_payloads import (
    CycleCompleted,
    CycleFailed,
    OrderFilled,
    OrderRejected,
    RiskVerdictEvent,
)
from orchestrator.events import Event, InProcessBus, make_event


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def metrics_url() -> Iterator[str]:
    server = monitoring.start_metrics_server(free_port(), addr="127.0.0.1")
    assert server is not None
    yield f"http://127.0.0.1:{server.port}/metrics"
    server.close()


async def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    response.raise_for_status()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_events_on_the_bus_show_up_on_the_metrics_endpoint(metrics_url: str) -> None:
    bus = InProcessBus()
    monitoring.subscribe_metrics(bus)
    before = await scrape(metrics_url)

    order = dict(client_order_id="c", symbol="AAPL", side="buy", quantity=5)
    for payload in (
        OrderFilled(**order, status="filled"),
        OrderFilled(**order, status="filled"),
        OrderRejected(**order, status="rejected", reason="insufficient cash"),
        RiskVerdictEvent(
            symbol="TSLA",
            side="buy",
            status="blocked",
            quantity=0,
            price=200,
            limits=["blocked_symbols"],
        ),
        CycleCompleted(
            duration_seconds=12.5,
            step_seconds={"select": 0.5, "analyse": 9.0},
            equity=101_250.0,
            positions=3,
            regime="risk_off",
        ),
        CycleFailed(error="data provider down", step="gather", duration_seconds=1.0),
    ):
        await bus.publish(make_event(payload, cycle_id=1))
    await bus.publish(Event(type="risk.verdict", payload={"garbage": True}))  # skipped, logged
    # The cycle record's summary shape counts too (status and seconds inside "summary").
    summary = {"summary": {"status": "stopped", "seconds": 2.0}, "timings": {"decide": 1.5}}
    await bus.publish(Event(type="cycle.completed", cycle_id=2, payload=summary))
    await bus.drain()
    monitoring.record_llm_call(
        "decision",
        "gpt-4o-mini",
        prompt_tokens=1200,
        completion_tokens=300,
        cost_usd=0.0004,
        latency_seconds=0.8,
    )
    monitoring.record_tool_call("get_quote", ok=False)
    monitoring.record_chat_message("telegram", "in")
    after = await scrape(metrics_url)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("fingpt_orders_total", status="filled") == 2
    assert delta("fingpt_orders_total", status="rejected") == 1
    assert delta("fingpt_risk_blocks_total", limit="blocked_symbols") == 1
    assert delta("fingpt_cycles_total", status="completed") == 1
    assert delta("fingpt_cycles_total", status="failed") == 1
    assert delta("fingpt_cycles_total", status="stopped") == 1
    assert delta("fingpt_cycle_duration_seconds_count") == 3
    assert delta("fingpt_cycle_step_duration_seconds_sum", step="decide") == 1.5
    assert delta("fingpt_cycle_step_duration_seconds_sum", step="analyse") == 9.0
    assert value(after, "fingpt_equity") == 101_250.0
    assert value(after, "fingpt_positions") == 3
    assert value(after, "fingpt_market_regime", regime="risk_off") == 1
    assert value(after, "fingpt_market_regime", regime="risk_on") == 0
    assert (
        delta("fingpt_llm_tokens_total", task="decision", model="gpt-4o-mini", kind="prompt")
        == 1200
    )
    assert delta("fingpt_tool_errors_total", tool="get_quote") == 1
    assert delta("fingpt_chat_messages_total", face="telegram", direction="in") == 1
    # The process collectors come along: memory is what the idle-memory panel plots.
    assert value(after, "process_resident_memory_bytes") > 0


def test_port_zero_disables_the_endpoint() -> None:
    assert monitoring.start_metrics_server(0) is None
