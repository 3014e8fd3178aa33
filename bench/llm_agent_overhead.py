"""Agent overhead per tool round trip, against the fake OpenAI server with 0 ms latency.

    .venv/bin/python bench/llm_agent_overhead.py [--rounds 100] [--steps 5] [--db sqlite|none]
                                                 [--transport mock|server]

Target (issue 3): under 5 ms of our own time per tool round trip.

What is compared, inside one run (machines here are shared and noisy, so ratios matter more than
absolute times):
- `raw`: the same sequence of chat completions sent straight through `AsyncOpenAI` (the cost any
  client pays: the SDK, HTTP, the fake server);
- `agent`: `run_agent` doing the same conversation with one tool call per step: routing, budget
  reservation, local token estimate, request hashing, the call-log row, the tool registry
  (validation, thread hop, compact JSON) and message bookkeeping.
Our overhead per round trip = (agent time - raw time) / model calls. The tool itself is a no-op.
Both wall time and process CPU time are reported; CPU time is steadier on a loaded machine.

Transports: `mock` (default) answers inside the process through `httpx.MockTransport` with 0 ms
latency, so nothing but the SDK and our code is timed; `server` uses the fake OpenAI server of
tests/fakes on 127.0.0.1 (adds sockets and a server thread to both sides).
With `--db sqlite` (default) every call is written to the `llm_call` log, as in production.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import BaseModel  # noqa: E402

from orchestrator.agent import run_agent  # noqa: E402
from orchestrator.config import load_settings  # noqa: E402
from orchestrator.llm import CallContext, TokenBudget  # noqa: E402
from orchestrator.llm.openai_client import OpenAIClient  # noqa: E402
from orchestrator.store.db import create_db_engine, upgrade_database  # noqa: E402
from orchestrator.tools import ToolContext, ToolRegistry, tool  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI, Reply  # noqa: E402


class LookupArgs(BaseModel):
    symbol: str


def _registry() -> ToolRegistry:
    registry = ToolRegistry()

    @tool(name="lookup", description="Returns a small fixed record.", registry=registry)
    def lookup(args: LookupArgs, ctx: ToolContext) -> dict[str, Any]:
        return {"symbol": args.symbol, "price": 123.45, "change_pct": 0.5}

    return registry


def _script(steps: int) -> Any:
    """Tool calls for `steps - 1` turns, then an answer; keyed on the conversation length."""

    def respond(body: dict[str, Any]) -> Reply:
        tool_turns = sum(1 for m in body["messages"] if m["role"] == "tool")
        if tool_turns < steps - 1:
            return Reply(tool_calls=[("lookup", {"symbol": "AAPL"})], usage=(300, 20))
        return Reply(content="AAPL is 123.45.", usage=(400, 10))

    return respond


def _mock_http(steps: int) -> Any:
    """An httpx client answering chat completions in-process like the fake server does."""
    import httpx

    respond = _script(steps)

    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        reply = respond(body)
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": f"call_{len(body['messages'])}",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args)},
                }
                for name, args in reply.tool_calls
            ]
        finish = "tool_calls" if reply.tool_calls else "stop"
        return httpx.Response(
            200,
            json={
                "id": "chatcmpl-bench",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": {
                    "prompt_tokens": reply.usage[0],
                    "completion_tokens": reply.usage[1],
                    "total_tokens": sum(reply.usage),
                },
            },
        )

    return httpx.AsyncClient(transport=httpx.MockTransport(handle))


class Timer:
    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def stop(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


@functools.cache
def _raw_client(base_url: str, http: Any) -> Any:
    """One SDK client for the whole run (kept connections), like a long-lived service."""
    from openai import AsyncOpenAI

    return AsyncOpenAI(base_url=base_url, api_key="x", max_retries=0, http_client=http)


@functools.cache
def _agent_client(base_url: str, http: Any, engine: Any) -> OpenAIClient:
    settings = load_settings(openai_base_url=base_url, openai_api_key="x", llm_cache="record")
    return OpenAIClient(settings, engine, http_client=http)


async def _raw(base_url: str, http: Any, rounds: int, steps: int) -> tuple[float, float]:
    client = _raw_client(base_url, http)
    # The same system prompt, tools and parameters as the agent sends: only our code differs.
    tools = _registry().schemas()
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a benchmark."},
        {"role": "user", "content": "price of AAPL"},
    ]
    timer = Timer()
    for _ in range(rounds):
        convo = list(messages)
        for _ in range(steps):
            reply = await client.chat.completions.create(
                model="gpt-4o-mini",
                messages=convo,  # type: ignore[arg-type]
                tools=tools,  # type: ignore[arg-type]
                temperature=0.0,
            )
            choice = reply.choices[0].message
            if not choice.tool_calls:
                break
            call = choice.tool_calls[0]
            convo.append(choice.model_dump(exclude_none=True))
            convo.append(
                {
                    "role": "tool",
                    "tool_call_id": call.id,
                    "content": json.dumps({"symbol": "AAPL", "price": 123.45}),
                }
            )
    return timer.stop()


async def _agent(
    base_url: str, http: Any, rounds: int, steps: int, engine: Any
) -> tuple[float, float]:
    client = _agent_client(base_url, http, engine)
    settings = client.settings
    registry = _registry()
    ctx = ToolContext(settings=settings)
    system = ("You are a benchmark.", "bench")
    timer = Timer()
    for _ in range(rounds):
        result = await run_agent(
            client,
            registry,
            ctx,
            question="price of AAPL",
            call_context=CallContext(budget=TokenBudget(1_000_000)),
            max_steps=steps + 1,
            system=system,
        )
        assert result.completed and len(result.steps) == steps, result
    return timer.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=100, help="agent runs per measurement")
    parser.add_argument("--steps", type=int, default=5, help="model calls per run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--db", choices=["sqlite", "none"], default="sqlite")
    parser.add_argument("--transport", choices=["mock", "server"], default="mock")
    options = parser.parse_args()

    fake = None
    if options.transport == "server":
        fake = FakeOpenAI()
        fake.respond_with(_script(options.steps))
        base_url, http = fake.base_url, None
    else:
        base_url, http = "http://bench.invalid/v1", _mock_http(options.steps)
    engine = None
    if options.db == "sqlite":
        engine = create_db_engine(f"sqlite:///{tempfile.mkdtemp()}/bench.db")
        upgrade_database(engine)
    # Warm up both paths (imports, connections, the tiktoken encoding).
    await _raw(base_url, http, 5, options.steps)
    await _agent(base_url, http, 5, options.steps, engine)
    calls = options.rounds * options.steps
    rows = []
    for _ in range(options.repeats):
        # Alternate one raw and one agent conversation at a time, so that load from other
        # processes (which comes and goes) falls on both sides alike.
        totals = [0.0, 0.0, 0.0, 0.0]
        for _ in range(options.rounds):
            raw = await _raw(base_url, http, 1, options.steps)
            agent = await _agent(base_url, http, 1, options.steps, engine)
            for i, value in enumerate((*raw, *agent)):
                totals[i] += value
        row = [t / calls * 1000 for t in totals]
        rows.append(row)
        print(
            f"per round trip: raw {row[0]:6.2f} ms wall {row[1]:6.2f} ms cpu | agent "
            f"{row[2]:6.2f} ms wall {row[3]:6.2f} ms cpu | ours {row[2] - row[0]:5.2f} ms wall "
            f"{row[3] - row[1]:5.2f} ms cpu"
        )
    if fake is not None:
        fake.close()
    wall = statistics.median(r[2] - r[0] for r in rows)
    cpu = statistics.median(r[3] - r[1] for r in rows)
    # Load from other processes only ever adds time: the least disturbed repeat is the floor.
    floor_wall = min(r[2] - r[0] for r in rows)
    floor_cpu = min(r[3] - r[1] for r in rows)
    print(
        f"\n{options.rounds} runs x {options.steps} model calls x {options.repeats} repeats, "
        f"transport {options.transport}, call log {options.db}. Median raw round trip "
        f"{statistics.median(r[0] for r in rows):.2f} ms; our overhead per tool round trip: "
        f"median {wall:.2f} ms wall, {cpu:.2f} ms cpu; best repeat {floor_wall:.2f} ms wall, "
        f"{floor_cpu:.2f} ms cpu (target < 5 ms): "
        f"{'PASS' if max(wall, cpu) < 5 else 'FAIL'}"
    )


if __name__ == "__main__":
    asyncio.run(main())
