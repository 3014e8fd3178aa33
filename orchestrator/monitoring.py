"""Prometheus metrics, the /metrics endpoint, and structured (JSON) logging.

Metrics live in the default `prometheus_client` registry, so the process/platform collectors
(memory, CPU, open files) are exported beside ours. Every name starts with `fingpt_`; counters
end in `_total` on the wire. Producers either call the `record_*` helpers directly (the LLM
client, the tool registry, the bot) or publish events that `record_event` turns into metrics
(orders, risk verdicts, cycles). With the Redis bus, event delivery is at least once, so a
counter may rarely count an event twice after a crash; the database stays the exact record.

Logging: `configure_logging` routes structlog AND the standard `logging` module through one
formatter: JSON lines when LOG_JSON=true (for Loki), readable lines otherwise. Values bound
with `bind_log_context(cycle_id=..., ticker=...)` ride along on every line logged in that
context, including lines from asyncio tasks started inside it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import structlog
from prometheus_client import Counter, Gauge, Histogram, start_http_server
from pydantic import ValidationError

from orchestrator.events import Event, EventBus, parse_payload

log = logging.getLogger(__name__)

# --- metrics -----------------------------------------------------------------------------------

CYCLES = Counter("fingpt_cycles", "Cycles finished, by status", ["status"])
CYCLE_DURATION = Histogram(
    "fingpt_cycle_duration_seconds",
    "Wall time of a whole cycle",
    # Cycles take seconds offline and minutes with a remote LLM and 50 candidates.
    buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200),
)
STEP_DURATION = Histogram(
    "fingpt_cycle_step_duration_seconds",
    "Wall time of one cycle step",
    ["step"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
)
LAST_CYCLE = Gauge("fingpt_last_cycle_timestamp_seconds", "Unix time the last cycle ended")
LLM_CALLS = Counter("fingpt_llm_calls", "LLM calls", ["task", "model", "status"])
LLM_TOKENS = Counter("fingpt_llm_tokens", "LLM tokens", ["task", "model", "kind"])
LLM_COST = Counter("fingpt_llm_cost_usd", "LLM cost in US dollars", ["task", "model"])
LLM_LATENCY = Histogram(
    "fingpt_llm_latency_seconds",
    "LLM call latency",
    ["task"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 60),
)
TOOL_CALLS = Counter("fingpt_tool_calls", "Agent tool calls", ["tool"])
TOOL_ERRORS = Counter("fingpt_tool_errors", "Agent tool calls that failed", ["tool"])
ORDERS = Counter("fingpt_orders", "Order events, by status", ["status"])
RISK_VERDICTS = Counter("fingpt_risk_verdicts", "Risk verdicts, by status", ["status"])
RISK_BLOCKS = Counter("fingpt_risk_blocks", "Proposals blocked, by limit", ["limit"])
RISK_CLAMPS = Counter("fingpt_risk_clamps", "Proposals resized, by limit", ["limit"])
APPROVALS = Counter("fingpt_approvals", "Approvals resolved, by decision", ["decision"])
EQUITY = Gauge("fingpt_equity", "Account equity in the account currency")
POSITIONS = Gauge("fingpt_positions", "Open positions")
CHAT_MESSAGES = Counter("fingpt_chat_messages", "Chat messages", ["face", "direction"])
REGIME = Gauge("fingpt_market_regime", "1 for the current market regime, 0 otherwise", ["regime"])
KILL_SWITCH = Gauge("fingpt_kill_switch", "1 while trading is halted by the kill switch")
ALERTS = Counter("fingpt_alerts", "Alerts raised, by level", ["level"])
EVENTS = Counter("fingpt_events", "Bus events seen by the metrics subscriber", ["type"])
JOBS = Counter("fingpt_jobs", "Work-queue jobs run, by outcome", ["job_type", "status"])
JOB_DURATION = Histogram(
    "fingpt_job_duration_seconds",
    "Work-queue job run time",
    ["job_type"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120),
)

# The labels of orchestrator.analysis.regime; listed so the gauge shows zeros, not gaps.
KNOWN_REGIMES = ("risk_on", "neutral", "risk_off", "crisis", "unknown")


def record_step(step: str, seconds: float) -> None:
    STEP_DURATION.labels(step=step).observe(seconds)


def record_llm_call(
    task: str,
    model: str,
    *,
    prompt_tokens: int,
    completion_tokens: int,
    cost_usd: float,
    latency_seconds: float,
    ok: bool = True,
) -> None:
    LLM_CALLS.labels(task=task, model=model, status="ok" if ok else "error").inc()
    LLM_TOKENS.labels(task=task, model=model, kind="prompt").inc(prompt_tokens)
    LLM_TOKENS.labels(task=task, model=model, kind="completion").inc(completion_tokens)
    LLM_COST.labels(task=task, model=model).inc(cost_usd)
    LLM_LATENCY.labels(task=task).observe(latency_seconds)


def record_tool_call(tool: str, *, ok: bool) -> None:
    TOOL_CALLS.labels(tool=tool).inc()
    if not ok:
        TOOL_ERRORS.labels(tool=tool).inc()


def record_chat_message(face: str, direction: str) -> None:
    """`face`: telegram or console; `direction`: in (from a person) or out (our reply)."""
    CHAT_MESSAGES.labels(face=face, direction=direction).inc()


def set_regime(regime: str) -> None:
    for name in {*KNOWN_REGIMES, regime}:
        REGIME.labels(regime=name).set(1 if name == regime else 0)


def set_portfolio(equity: float, positions: int) -> None:
    EQUITY.set(equity)
    POSITIONS.set(positions)


def observe_job(job_type: str, *, ok: bool, seconds: float) -> None:
    JOBS.labels(job_type=job_type, status="ok" if ok else "error").inc()
    JOB_DURATION.labels(job_type=job_type).observe(seconds)


# Event types whose payloads feed metrics; others are only counted in fingpt_events_total.
_TYPED = ("order.", "risk.verdict", "approval.resolved", "killswitch.changed", "alert", "daily.")


async def record_event(event: Event) -> None:
    """Bus subscriber: update metrics from order.*, risk.verdict, approval.*, cycle.* events.

    A payload that does not match its model is logged and skipped (raising would only make the
    Redis bus deliver it again). Cycle events are read field by field (`_record_cycle`), so
    both the typed `CycleCompleted` shape and the cycle record's summary shape count.
    """
    EVENTS.labels(type=event.type).inc()
    if event.type in ("cycle.completed", "cycle.failed"):
        _record_cycle(event)
        return
    if not event.type.startswith(_TYPED):
        return
    try:
        payload: Any = parse_payload(event)
    except (KeyError, ValidationError) as exc:
        log.warning("metrics: cannot read %s v%d: %s", event.type, event.version, exc)
        return
    if event.type.startswith("order."):
        ORDERS.labels(status=payload.status).inc()
    elif event.type == "risk.verdict":
        RISK_VERDICTS.labels(status=payload.status).inc()
        if payload.status == "blocked":
            for limit in payload.limits or ["unspecified"]:
                RISK_BLOCKS.labels(limit=limit).inc()
        elif payload.status == "resized":
            for limit in payload.limits or ["unspecified"]:
                RISK_CLAMPS.labels(limit=limit).inc()
    elif event.type == "approval.resolved":
        APPROVALS.labels(decision=payload.decision).inc()
    elif event.type == "killswitch.changed":
        KILL_SWITCH.set(1 if payload.active else 0)
    elif event.type == "alert":
        ALERTS.labels(level=payload.level).inc()
    elif event.type == "daily.summary":
        EQUITY.set(payload.equity)


def _record_cycle(event: Event) -> None:
    """Cycle count, duration, step times, equity, positions and regime from a cycle event.

    Reads the typed fields (`CycleCompleted`/`CycleFailed`) and falls back to a `summary` dict
    (the cycle record's headline numbers: status, seconds) and `timings`/`step_seconds`.
    """
    payload = event.payload
    raw = payload.get("summary")
    summary: dict[str, Any] = raw if isinstance(raw, dict) else {}
    failed = event.type == "cycle.failed"
    status = "failed" if failed else str(payload.get("status") or summary.get("status") or "")
    CYCLES.labels(status=status or "completed").inc()
    seconds = _number(payload.get("duration_seconds"), summary.get("seconds"))
    if seconds is not None:
        CYCLE_DURATION.observe(seconds)
    steps = payload.get("step_seconds") or payload.get("timings") or summary.get("timings") or {}
    if isinstance(steps, dict):
        for step, value in steps.items():
            if _number(value) is not None:
                record_step(str(step), float(value))
    LAST_CYCLE.set(event.at.timestamp())
    equity = _number(payload.get("equity"), summary.get("equity"))
    if equity is not None:
        EQUITY.set(equity)
    positions = _number(payload.get("positions"), summary.get("positions"))
    if positions is not None:
        POSITIONS.set(positions)
    regime = payload.get("regime") or summary.get("regime")
    if isinstance(regime, str) and regime:
        set_regime(regime)


def _number(*candidates: Any) -> float | None:
    for value in candidates:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


# --- metrics from the call log ------------------------------------------------------------------
# Every LLM call and chat turn is stored (the audit log); counting them as the rows are inserted
# keeps the metrics exact in every process (app, workers, CLI) without a second code path in the
# LLM client, the agent or the bot.


def record_llm_row(row: Any) -> None:
    """Count one stored `llm_call` row: the call, its tokens and cost, and the tool results the
    request carries back to the model (the agent's previous round)."""
    task, model = row.task or "unknown", row.model or "unknown"
    if row.cached:
        LLM_CALLS.labels(task=task, model=model, status="cached").inc()
    else:
        record_llm_call(
            task,
            model,
            prompt_tokens=int(row.prompt_tokens or 0),
            completion_tokens=int(row.completion_tokens or 0),
            cost_usd=float(row.cost_usd or 0.0),
            latency_seconds=float(row.latency_ms or 0.0) / 1000,
            ok=not row.error,
        )
    for tool, ok in _last_round_tool_results(row.request or {}):
        record_tool_call(tool, ok=ok)


def _last_round_tool_results(request: dict[str, Any]) -> list[tuple[str, bool]]:
    """(tool name, ok) for the tool messages after the last assistant turn of a request.

    Each request repeats the whole conversation, so only the trailing tool messages are new.
    A result the agent reported as "error: ..." counts as a failed call.
    """
    messages = request.get("messages") or []
    trailing: list[dict[str, Any]] = []
    for message in reversed(messages):
        if not isinstance(message, dict) or message.get("role") != "tool":
            break
        trailing.append(message)
    if not trailing:
        return []
    names: dict[str, str] = {}
    for message in messages:
        if isinstance(message, dict) and message.get("role") == "assistant":
            for call in message.get("tool_calls") or []:
                function = call.get("function") or {}
                names[str(call.get("id"))] = str(function.get("name") or "unknown")
    results = []
    for message in reversed(trailing):
        content = message.get("content")
        ok = not (isinstance(content, str) and content.startswith("error:"))
        results.append((names.get(str(message.get("tool_call_id")), "unknown"), ok))
    return results


def record_chat_row(row: Any) -> None:
    """Count one stored chat turn: the console's chat id is 0, every other one is Telegram."""
    face = "console" if str(row.chat_id) in ("0", "console") else "telegram"
    record_chat_message(face, "in" if row.role == "user" else "out")


def install_store_metrics() -> None:
    """Count LLM calls, tool calls and chat turns as their rows are inserted (idempotent)."""
    from sqlalchemy import event

    from orchestrator.store.llm import ChatMessageRow, LLMCallRow

    for model, recorder in ((LLMCallRow, _on_llm_insert), (ChatMessageRow, _on_chat_insert)):
        if not event.contains(model, "after_insert", recorder):
            event.listen(model, "after_insert", recorder)


def _on_llm_insert(_mapper: Any, _connection: Any, row: Any) -> None:
    try:
        record_llm_row(row)
    except Exception:  # a metric must never fail the write it observes
        log.exception("metrics: cannot count llm_call row")


def _on_chat_insert(_mapper: Any, _connection: Any, row: Any) -> None:
    try:
        record_chat_row(row)
    except Exception:
        log.exception("metrics: cannot count chat_message row")


def subscribe_metrics(bus: EventBus) -> None:
    """Keep metrics current from the bus (consumer group `orchestrator.monitoring.record_event`)."""
    bus.subscribe("*", record_event)


class MetricsServer:
    """The running /metrics HTTP server; `close()` stops it."""

    def __init__(self, server: Any, port: int) -> None:
        self._server = server
        self.port = port

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def start_metrics_server(port: int, *, addr: str = "0.0.0.0") -> MetricsServer | None:
    """Serve /metrics on `port` in a daemon thread; port 0 disables it (returns None).

    Raises `OSError` when the port is taken, so a second process does not silently go unscraped.
    """
    if port == 0:
        return None
    server, _thread = start_http_server(port, addr=addr)
    log.info("metrics on http://%s:%d/metrics", addr, port)
    return MetricsServer(server, port)


# --- logging -----------------------------------------------------------------------------------

_SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure_logging(
    level: str = "INFO", *, json: bool = False, stream: IO[str] | None = None
) -> None:
    """Send structlog and stdlib logging to `stream` (stderr) as JSON or console lines.

    Safe to call again (tests, reconfiguration): it replaces the handler it installed before.
    """
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            *_SHARED_PROCESSORS,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    final: list[Any] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if json:
        final.append(structlog.processors.format_exc_info)
    final.append(renderer)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED_PROCESSORS, processors=final
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    handler.set_name("fingpt")
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == "fingpt":
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    # APScheduler logs every job start at INFO; the cycle logs its own start and end.
    logging.getLogger("apscheduler.executors").setLevel(max(logging.WARNING, root.level))


def get_logger(name: str) -> Any:
    """A structlog logger (key-value events) that goes through the same handler."""
    return structlog.stdlib.get_logger(name)


@contextmanager
def bind_log_context(**values: Any) -> Iterator[None]:
    """Attach `values` (cycle_id, ticker, ...) to every log line inside the block."""
    tokens = structlog.contextvars.bind_contextvars(**values)
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)
