"""A fake OpenAI-compatible HTTP server on 127.0.0.1 for tests that run the real `openai` SDK.

Stdlib only (`http.server` in a thread). It serves:
- `POST /v1/chat/completions`: answers from a script (below), with `usage`;
- `POST /v1/embeddings`: deterministic hashed bag-of-words vectors (similar texts get similar
  vectors; `dimensions` in the request sets the size, default 64);
- `GET /v1/models`.

Use in a test (pytest fixtures at the bottom; import them into your test module):

    from tests.fakes.openai_server import (  # noqa: F401
        close_openai_clients, fake_openai, fake_openai_factory,
    )

    async def test_x(fake_openai):            # OPENAI_BASE_URL / OPENAI_API_KEY are set for you
        fake_openai.reply_tool_calls([("get_quote", {"symbol": "AAPL"}),
                                      ("get_quote", {"symbol": "MSFT"})])   # parallel calls
        fake_openai.reply_text("AAPL is 120.")
        ...                                   # run the code under test (get_settings() sees it)
        assert fake_openai.requests[1].body["messages"][-1]["role"] == "tool"

Scripting API (each `reply_*` queues one reply; replies are served in order; every method takes
`model=` to queue for requests of that model only, `usage=(prompt, completion)` and
`latency=` seconds to sleep before answering):
- `reply_text(text)` - a plain assistant message;
- `reply_json(obj)` - an assistant message whose content is `json.dumps(obj)`;
- `reply_tool_calls([(name, args), ...])` - one assistant turn with these tool calls; `args` is a
  dict (JSON-encoded) or a raw string (to send malformed arguments);
- `reply_error(status, message, retry_after=None)` - an HTTP error (429, 500, ...);
- `respond_with(fn)` - `fn(body: dict) -> Reply` answers every request the queue does not
  (the default answers "ok"); `Reply` is also importable for building answers;
- `latency` attribute - a delay applied to every request (seconds);
- `omit_usage = True` - answer without a `usage` block (like some local servers);
- `requests` - the log of `RecordedRequest(path, body, headers, model)`; `chat_requests()` lists
  only chat completions. `queued()` is how many scripted replies are left.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


class _Server(ThreadingHTTPServer):
    # The stdlib's listen backlog is 5: fifty concurrent requests (one cycle's tickers) would
    # see connection resets that a real endpoint never gives.
    request_queue_size = 256


@dataclass
class Reply:
    """One scripted answer."""

    content: str | None = None
    tool_calls: list[tuple[str, Any]] = field(default_factory=list)
    status: int = 200
    error_message: str = ""
    retry_after: float | None = None
    usage: tuple[int, int] = (20, 10)
    latency: float = 0.0
    model: str | None = None  # the model name to report; default: the requested one


@dataclass
class RecordedRequest:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def model(self) -> str:
        return str(self.body.get("model", ""))


class FakeOpenAI:
    """See the module docstring."""

    def __init__(self) -> None:
        self._queue: deque[Reply] = deque()
        self._by_model: dict[str, deque[Reply]] = {}
        self._lock = threading.Lock()
        self.requests: list[RecordedRequest] = []
        self.latency = 0.0
        self.omit_usage = False
        self.responder: Callable[[dict[str, Any]], Reply] = lambda body: Reply(content="ok")
        self.server = _Server(("127.0.0.1", 0), _handler_for(self))
        self.server.daemon_threads = True
        # A short poll interval: shutdown() waits up to one interval, once per test.
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    # --- scripting --------------------------------------------------------------------------
    def _queue_for(self, model: str | None) -> deque[Reply]:
        return self._queue if model is None else self._by_model.setdefault(model, deque())

    def push(self, reply: Reply, *, model: str | None = None) -> None:
        with self._lock:
            self._queue_for(model).append(reply)

    def reply_text(self, text: str, *, model: str | None = None, **options: Any) -> None:
        self.push(Reply(content=text, **options), model=model)

    def reply_json(self, obj: Any, *, model: str | None = None, **options: Any) -> None:
        self.push(Reply(content=json.dumps(obj), **options), model=model)

    def reply_tool_calls(
        self, calls: list[tuple[str, Any]], *, model: str | None = None, **options: Any
    ) -> None:
        self.push(Reply(tool_calls=list(calls), **options), model=model)

    def reply_error(
        self,
        status: int,
        message: str = "scripted error",
        *,
        retry_after: float | None = None,
        model: str | None = None,
        **options: Any,
    ) -> None:
        reply = Reply(status=status, error_message=message, retry_after=retry_after, **options)
        self.push(reply, model=model)

    def respond_with(self, responder: Callable[[dict[str, Any]], Reply]) -> None:
        self.responder = responder

    def queued(self) -> int:
        with self._lock:
            return len(self._queue) + sum(len(q) for q in self._by_model.values())

    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    # --- serving ----------------------------------------------------------------------------
    def next_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            model_queue = self._by_model.get(str(body.get("model")))
            if model_queue:
                return model_queue.popleft()
            if self._queue:
                return self._queue.popleft()
        return self.responder(body)

    def completion(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": f"call_{uuid.uuid4().hex[:10]}",
                    "type": "function",
                    "function": {
                        "name": name,
                        "arguments": args if isinstance(args, str) else json.dumps(args),
                    },
                }
                for name, args in reply.tool_calls
            ]
        data: dict[str, Any] = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": reply.model or body.get("model", "fake"),
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": "tool_calls" if reply.tool_calls else "stop",
                }
            ],
        }
        if not self.omit_usage:
            prompt, completion = reply.usage
            data["usage"] = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            }
        return data


def embed_text(text: str, dimensions: int = 64) -> list[float]:
    """Hashed bag of words, L2-normalised: shared words make vectors close."""
    vector = [0.0] * dimensions
    for word in re.findall(r"\w+", text.lower()):
        digest = hashlib.md5(word.encode()).digest()
        index = int.from_bytes(digest[:4], "little") % dimensions
        vector[index] += 1.0 if digest[4] % 2 == 0 else -1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    if norm == 1.0 and not any(vector):
        vector[0] = 1.0
    return [v / norm for v in vector]


def _handler_for(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's httpx pool expects
        # Headers and body go out in two writes; without TCP_NODELAY, Nagle plus delayed ACKs
        # add ~40 ms to every reply on a keep-alive connection.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet tests
            pass

        def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            raw = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:  # noqa: N802 - http.server API
            if self.path.rstrip("/").endswith("/models"):
                self._send(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})
            else:
                self._send(404, {"error": {"message": "not found", "type": "not_found"}})

        def do_POST(self) -> None:  # noqa: N802 - http.server API
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            with fake._lock:
                fake.requests.append(RecordedRequest(self.path, body, dict(self.headers.items())))
            if self.path.endswith("/embeddings"):
                inputs = body.get("input")
                texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
                dimensions = int(body.get("dimensions") or 64)
                data = [
                    {"object": "embedding", "index": i, "embedding": embed_text(str(t), dimensions)}
                    for i, t in enumerate(texts)
                ]
                tokens = sum(len(str(t).split()) for t in texts)
                self._send(
                    200,
                    {
                        "object": "list",
                        "data": data,
                        "model": body.get("model", "fake-embed"),
                        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                    },
                )
                return
            if not self.path.endswith("/chat/completions"):
                self._send(404, {"error": {"message": "not found", "type": "not_found"}})
                return
            reply = fake.next_reply(body)
            delay = reply.latency + fake.latency
            if delay:
                time.sleep(delay)
            if reply.status != 200:
                headers = {}
                if reply.retry_after is not None:
                    headers["Retry-After"] = f"{reply.retry_after:g}"
                # The SDK would retry on its own if told so; the product's retries are tested.
                headers["x-should-retry"] = "false"
                error = {"message": reply.error_message, "type": "fake_error", "code": None}
                self._send(reply.status, {"error": error}, headers)
                return
            self._send(200, fake.completion(body, reply))

    return Handler


@pytest.fixture
async def close_openai_clients(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    """Every `OpenAIClient` a test makes is closed after it, as the runtime closes its own:
    the aiohttp transport warns about sessions left open for the garbage collector."""
    from orchestrator.llm.openai_client import OpenAIClient

    made: list[OpenAIClient] = []
    original = OpenAIClient.__init__

    def tracking(self: OpenAIClient, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(OpenAIClient, "__init__", tracking)
    yield
    for client in made:
        await client.close()


@pytest.fixture
def fake_openai_factory(close_openai_clients: None) -> Iterator[Callable[[], FakeOpenAI]]:
    """Start any number of fake servers (for routing tests); all are closed after the test."""
    started: list[FakeOpenAI] = []

    def start() -> FakeOpenAI:
        fake = FakeOpenAI()
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.close()


@pytest.fixture
def fake_openai(
    fake_openai_factory: Callable[[], FakeOpenAI], monkeypatch: pytest.MonkeyPatch
) -> FakeOpenAI:
    """One fake server, with OPENAI_BASE_URL and OPENAI_API_KEY pointing at it."""
    from orchestrator.config import get_settings

    fake = fake_openai_factory()
    monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-fake")
    get_settings.cache_clear()
    return fake
