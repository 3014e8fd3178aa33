"""A fake Telegram Bot API server on 127.0.0.1 for driving the real python-telegram-bot.

It speaks the Bot API's HTTP shape (`POST /bot<token>/<method>`, form-encoded or multipart
parameters whose complex values are JSON, `{"ok": true, "result": ...}` answers), keeps the
messages the bot sent so edits can be checked, delivers queued updates through long-polled
`getUpdates`, and records every call.

Tests talk to it from their event loop; it runs in its own thread (a `ThreadingHTTPServer`), so
a slow test never blocks the bot's long poll and vice versa. Point the bot at it with
`TELEGRAM_BASE_URL=server.base_url`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

BOT_ID = 999_000
BOT_USERNAME = "fingpt_test_bot"


@dataclass
class Call:
    """One request the bot made: the Bot API method, its decoded parameters, and when."""

    method: str
    params: dict[str, Any]
    at: float
    files: dict[str, bytes] = field(default_factory=dict)
    result: Any = None  # what the server answered (a sent message carries its message_id)


class FakeTelegramServer:
    """The fake Bot API; use as a context manager or call `start()` / `stop()`."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        # Chats whose user blocked the bot: sending there fails with 403, as Telegram does.
        self.blocked_chats: set[int] = set()
        self._updates: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        # Called with each update's id when `getUpdates` hands it to the bot (benchmarks).
        self.on_delivered: Callable[[int], None] | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/bot"

    def start(self) -> FakeTelegramServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._cond:
            self._cond.notify_all()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeTelegramServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what a user does --------------------------------------------------------------------

    def send_text(self, chat_id: int, text: str, *, user_id: int | None = None) -> int:
        """Queue a message from a person in a private chat; returns the update id."""
        return self._queue(self.text_update(chat_id, text, user_id=user_id))

    def text_update(self, chat_id: int, text: str, *, user_id: int | None = None) -> dict[str, Any]:
        """The update (without its id) of a person's message, e.g. to post to a webhook."""
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": f"user{chat_id}"},
            "from": _user(user_id if user_id is not None else chat_id),
            "text": text,
        }
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return {"message": message}

    def press_button(self, chat_id: int, message_id: int, data: str, *, user_id: int) -> str:
        """Queue a press on an inline button of a message the bot sent; returns the query id."""
        query_id = f"cq{next(self._callback_ids)}"
        message = dict(self.messages[(chat_id, message_id)])
        self._queue(
            {
                "callback_query": {
                    "id": query_id,
                    "from": _user(user_id),
                    "chat_instance": f"ci{chat_id}",
                    "data": data,
                    "message": message,
                }
            }
        )
        return query_id

    # --- what the bot did --------------------------------------------------------------------

    def calls_of(self, method: str, **match: Any) -> list[Call]:
        """Recorded calls of one method whose parameters equal every `match` value."""
        return [
            c
            for c in list(self.calls)
            if c.method == method and all(c.params.get(k) == v for k, v in match.items())
        ]

    async def wait_for(
        self,
        method: str,
        predicate: Callable[[Call], bool] = lambda call: True,
        *,
        count: int = 1,
        timeout: float = 10.0,  # noqa: ASYNC109 - a test helper, not an API
        **match: Any,
    ) -> list[Call]:
        """Wait until `count` calls of `method` match; raises `AssertionError` on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            found = [c for c in self.calls_of(method, **match) if predicate(c)]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                seen = [(c.method, c.params) for c in self.calls[-10:]]
                raise AssertionError(f"no {count} x {method} {match} within {timeout}s: {seen}")
            await asyncio.sleep(0.01)

    @staticmethod
    def message_id_of(call: Call) -> int:
        """The id of the message a `sendMessage` / `sendPhoto` call created."""
        return int(call.result["message_id"])

    def texts_to(self, chat_id: int) -> list[str]:
        """Texts and captions of every message the bot sent to a chat, in order."""
        return [
            c.params.get("text") or c.params.get("caption") or ""
            for c in list(self.calls)
            if c.method in ("sendMessage", "sendPhoto") and c.params.get("chat_id") == chat_id
        ]

    # --- the HTTP side -----------------------------------------------------------------------

    def _queue(self, update: dict[str, Any]) -> int:
        with self._cond:
            update_id = next(self._update_ids)
            self._updates.append({"update_id": update_id, **update})
            self._cond.notify_all()
        return update_id

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        deadline = time.monotonic() + min(timeout, 5.0)
        with self._cond:
            # Telegram forgets every update below the offset the bot confirms.
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while not self._updates and time.monotonic() < deadline:
                self._cond.wait(deadline - time.monotonic())
            batch = list(self._updates[: int(params.get("limit") or 100)])
        if self.on_delivered:
            for update in batch:
                self.on_delivered(update["update_id"])
        return batch

    def _dispatch(self, method: str, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        call = Call(method, params, time.monotonic(), files)
        if method == "getUpdates":
            # Recorded when asked, not after its long poll: tests wait for the bot to be polling.
            self.calls.append(call)
            return self._answer(method, params)
        call.result = self._answer(method, params)
        self.calls.append(call)
        return call.result

    def _answer(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return {**_user(BOT_ID), "is_bot": True, "username": BOT_USERNAME}
        if method == "getUpdates":
            return self._get_updates(params)
        if method in ("sendMessage", "sendPhoto"):
            return self._new_message(method, params)
        if method in ("editMessageText", "editMessageReplyMarkup"):
            return self._edit_message(method, params)
        if method in (
            "answerCallbackQuery",
            "setMyCommands",
            "deleteWebhook",
            "setWebhook",
            "sendChatAction",
            "deleteMyCommands",
        ):
            return True
        if method == "getMyCommands":
            return []
        raise KeyError(method)

    def _new_message(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        if chat_id in self.blocked_chats:
            raise PermissionError("Forbidden: bot was blocked by the user")
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": {**_user(BOT_ID), "is_bot": True},
        }
        if method == "sendPhoto":
            message["photo"] = [{"file_id": "p1", "file_unique_id": "u1", "width": 1, "height": 1}]
            if "caption" in params:
                message["caption"] = params["caption"]
        else:
            message["text"] = params["text"]
        if "reply_markup" in params:
            message["reply_markup"] = params["reply_markup"]
        self.messages[(chat_id, message["message_id"])] = message
        return message

    def _edit_message(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        key = (int(params["chat_id"]), int(params["message_id"]))
        if key not in self.messages:
            raise LookupError("Bad Request: message to edit not found")
        message = dict(self.messages[key])
        if method == "editMessageText":
            if message.get("text") == params["text"] and "reply_markup" not in params:
                raise LookupError("Bad Request: message is not modified")
            message["text"] = params["text"]
        message.pop("reply_markup", None)
        if "reply_markup" in params:
            message["reply_markup"] = params["reply_markup"]
        self.messages[key] = message
        return message

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # The status line and headers go out in one write and the body in another; with
            # Nagle's algorithm on, the body then waits for the client's delayed ACK (~40 ms
            # on Linux) and every answer, getUpdates included, arrives that much late.
            disable_nagle_algorithm = True

            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                method = self.path.rstrip("/").rsplit("/", 1)[-1]
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                params, files = _decode(self.headers.get("Content-Type", ""), body)
                try:
                    answer: dict[str, Any] = {
                        "ok": True,
                        "result": fake._dispatch(method, params, files),
                    }
                    status = 200
                except KeyError:
                    answer, status = (
                        {"ok": False, "error_code": 404, "description": "Not Found"},
                        404,
                    )
                except LookupError as exc:
                    answer = {"ok": False, "error_code": 400, "description": str(exc.args[0])}
                    status = 400
                except PermissionError as exc:
                    answer = {"ok": False, "error_code": 403, "description": str(exc.args[0])}
                    status = 403
                data = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the bot stopped while its long poll was open

            do_GET = do_POST  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                """Quiet: the recorded calls are the log."""

        return Handler


# Parameters python-telegram-bot sends as bare strings (a text "42" must stay a string).
_PLAIN_TEXT = frozenset({"text", "caption", "parse_mode", "action", "callback_query_id", "url"})


def _user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"}


def _decode(content_type: str, body: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Parameters of a Bot API request: JSON-encoded values are decoded, files kept apart."""
    raw: dict[str, str] = {}
    files: dict[str, bytes] = {}
    if content_type.startswith("multipart/form-data"):
        message = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
        )
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            if part.get_filename():
                files[str(name)] = payload
            else:
                raw[str(name)] = payload.decode()
    elif content_type.startswith("application/json"):
        return (json.loads(body) if body else {}), files
    else:
        raw = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
    params: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _PLAIN_TEXT:
            params[key] = value
            continue
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    return params, files


class _Server(ThreadingHTTPServer):
    # The stdlib's backlog of 5 makes a burst of new connections fail with reset connections;
    # Telegram accepts them all.
    request_queue_size = 128
