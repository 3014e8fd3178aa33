"""Writes deploy/grafana/dashboards/fingpt.json, the provisioned Grafana dashboard.

Usage (after changing a panel): .venv/bin/python deploy/grafana/make_dashboard.py
tests/process/test_deploy.py checks the JSON is current and that every query names a metric
`orchestrator.monitoring` exports.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "dashboards" / "fingpt.json"
PROM = {"type": "prometheus", "uid": "prometheus"}
LOKI = {"type": "loki", "uid": "loki"}
# Rates over 5 minutes: a few scrapes at 15 s, smooth enough for 30-minute cycles.
WINDOW = "5m"


def target(expr: str, legend: str = "", ref: str = "A") -> dict[str, Any]:
    return {"datasource": PROM, "expr": expr, "legendFormat": legend, "refId": ref}


def panel(
    title: str,
    targets: list[dict[str, Any]],
    *,
    kind: str = "timeseries",
    unit: str = "short",
    w: int = 8,
    h: int = 8,
    description: str = "",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": PROM,
        "targets": [{**t, "refId": chr(ord("A") + index)} for index, t in enumerate(targets)],
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "gridPos": {"w": w, "h": h},
        **extra,
    }


def rate(metric: str, by: str) -> str:
    return f"sum by ({by}) (increase({metric}[{WINDOW}]))"


def quantile(q: float, metric: str, by: str = "") -> str:
    group = f"le, {by}" if by else "le"
    return f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket[{WINDOW}])))"


def panels() -> list[dict[str, Any]]:
    stat = {"kind": "stat", "w": 4, "h": 4}
    return [
        panel("Equity", [target("fingpt_equity", "equity")], unit="currencyUSD", **stat),
        panel("Open positions", [target("fingpt_positions", "positions")], **stat),
        panel(
            "Last cycle (age)",
            [target("time() - fingpt_last_cycle_timestamp_seconds", "age")],
            unit="s",
            **stat,
        ),
        panel(
            "Kill switch",
            [target("fingpt_kill_switch", "kill switch")],
            description="1 while trading is halted",
            **stat,
        ),
        panel(
            "Market regime",
            [target("fingpt_market_regime == 1", "{{regime}}")],
            kind="stat",
            w=4,
            h=4,
            description="The regime the last cycle classified",
            options={"textMode": "name", "reduceOptions": {"calcs": ["lastNotNull"]}},
        ),
        panel(
            "LLM cost today",
            [target("sum(increase(fingpt_llm_cost_usd_total[1d]))", "USD")],
            unit="currencyUSD",
            **stat,
        ),
        panel("Cycles by status", [target(rate("fingpt_cycles_total", "status"), "{{status}}")]),
        panel(
            "Cycle duration",
            [
                target(quantile(0.5, "fingpt_cycle_duration_seconds"), "p50"),
                target(quantile(0.95, "fingpt_cycle_duration_seconds"), "p95"),
            ],
            unit="s",
        ),
        panel(
            "Step durations (p95)",
            [target(quantile(0.95, "fingpt_cycle_step_duration_seconds", "step"), "{{step}}")],
            unit="s",
        ),
        panel(
            "LLM calls by task and model",
            [target(rate("fingpt_llm_calls_total", "task, model, status"), "{{task}} {{model}}")],
        ),
        panel(
            "LLM tokens by task and model",
            [target(rate("fingpt_llm_tokens_total", "task, model, kind"), "{{task}} {{kind}}")],
        ),
        panel(
            "LLM cost by task and model",
            [target(rate("fingpt_llm_cost_usd_total", "task, model"), "{{task}} {{model}}")],
            unit="currencyUSD",
        ),
        panel(
            "Tool calls and errors",
            [
                target(rate("fingpt_tool_calls_total", "tool"), "{{tool}}"),
                target(rate("fingpt_tool_errors_total", "tool"), "{{tool}} errors"),
            ],
        ),
        panel("Orders by status", [target(rate("fingpt_orders_total", "status"), "{{status}}")]),
        panel(
            "Risk blocks and clamps by limit",
            [
                target(rate("fingpt_risk_blocks_total", "limit"), "blocked: {{limit}}"),
                target(rate("fingpt_risk_clamps_total", "limit"), "resized: {{limit}}"),
            ],
        ),
        panel(
            "Equity over time",
            [target("fingpt_equity", "equity")],
            unit="currencyUSD",
        ),
        panel("Positions over time", [target("fingpt_positions", "positions")]),
        panel(
            "Chat messages",
            [
                target(
                    rate("fingpt_chat_messages_total", "face, direction"), "{{face}} {{direction}}"
                )
            ],
        ),
        panel(
            "Market regime over time",
            [target("fingpt_market_regime", "{{regime}}")],
            kind="state-timeline",
        ),
        panel(
            "Worker jobs",
            [
                target(rate("fingpt_jobs_total", "job_type, status"), "{{job_type}} {{status}}"),
                target(
                    quantile(0.95, "fingpt_job_duration_seconds", "job_type"), "p95 {{job_type}}"
                ),
            ],
        ),
        panel(
            "Process memory (RSS)",
            [target("process_resident_memory_bytes", "{{service}} {{instance}}")],
            unit="bytes",
        ),
        {
            "type": "logs",
            "title": 'Logs (warnings and errors; filter a cycle with | cycle_id="N")',
            "datasource": LOKI,
            "targets": [
                {
                    "datasource": LOKI,
                    "expr": '{service=~"app|worker", level=~"warning|error|critical"}',
                    "refId": "A",
                }
            ],
            "options": {"showTime": True, "wrapLogMessage": True, "sortOrder": "Descending"},
            "gridPos": {"w": 24, "h": 10},
        },
    ]


def layout(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Place panels left to right, wrapping at Grafana's 24 columns; number them."""
    x = y = row_height = 0
    for index, item in enumerate(items, start=1):
        grid = item["gridPos"]
        if x + grid["w"] > 24:
            x, y, row_height = 0, y + row_height, 0
        grid.update(x=x, y=y)
        x += grid["w"]
        row_height = max(row_height, grid["h"])
        item["id"] = index
    return items


def dashboard() -> dict[str, Any]:
    return {
        "uid": "fingpt-overview",
        "title": "FinGPT Orchestrator",
        "tags": ["fingpt"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "refresh": "30s",
        "time": {"from": "now-24h", "to": "now"},
        "panels": layout(panels()),
        "templating": {"list": []},
        "annotations": {"list": []},
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2) + "\n"


if __name__ == "__main__":
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(render())
    print(f"wrote {OUT}")
