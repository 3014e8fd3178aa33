"""A fake Alpaca trading API (v2) on 127.0.0.1 for the real alpaca-py `TradingClient`.

Speaks the JSON shapes alpaca-py's models parse (account, clock, orders, positions) and lets a
test script the broker's behaviour: accept an order and then hold the reply past the client's
timeout, answer 5xx, refuse with a 403 (insufficient buying power), fill orders on demand.
Client order ids are unique, as at Alpaca (a duplicate gets 422).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

API_KEY = "test-key"
SECRET_KEY = "test-secret"
OPEN_STATUSES = {"new", "accepted", "pending_new", "partially_filled"}


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class FakeAlpaca:
    """State and scripted behaviour of the fake; `url` is the base to give `ALPACA_BASE_URL`."""

    def __init__(self, *, cash: float = 100_000.0, is_open: bool = True) -> None:
        self.cash = cash
        self.last_equity = cash
        self.is_open = is_open
        self.orders: dict[str, dict[str, Any]] = {}
        self.positions: dict[str, dict[str, float]] = {}
        self.submit_requests = 0
        self.lock = threading.Lock()
        # Scripted behaviour for the next POST /v2/orders:
        self.hold_next_submit_reply_seconds = 0.0  # create the order, then reply late
        self.fail_next_submit_status: int | None = None  # reply 5xx without creating it
        self.reject_next_submit: tuple[int, str] | None = None  # (status, message)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeAlpaca:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- test controls -----------------------------------------------------------------------

    def by_client_id(self, client_order_id: str) -> dict[str, Any] | None:
        return next(
            (o for o in self.orders.values() if o["client_order_id"] == client_order_id), None
        )

    def add_order(self, **fields: Any) -> dict[str, Any]:
        """An order placed outside this process (e.g. on the web UI)."""
        order = self._new_order(fields)
        self.orders[order["id"]] = order
        return order

    def fill(self, client_order_id: str, price: float, quantity: float | None = None) -> None:
        """Fill an order (fully, or `quantity` more shares) at `price`."""
        with self.lock:
            order = self.by_client_id(client_order_id)
            assert order is not None, client_order_id
            total = float(order["qty"])
            before = float(order["filled_qty"])
            add = total - before if quantity is None else quantity
            after = before + add
            avg_before = float(order["filled_avg_price"] or 0)
            order["filled_avg_price"] = str((avg_before * before + price * add) / after)
            order["filled_qty"] = str(after)
            order["status"] = "filled" if after >= total else "partially_filled"
            order["updated_at"] = _now()
            if order["status"] == "filled":
                order["filled_at"] = _now()
            sign = 1 if order["side"] == "buy" else -1
            held = self.positions.setdefault(order["symbol"], {"qty": 0.0, "avg": price})
            if sign > 0:
                held["avg"] = (held["avg"] * held["qty"] + price * add) / (held["qty"] + add)
            held["qty"] += sign * add
            held["price"] = price
            self.cash -= sign * price * add

    # --- JSON shapes -------------------------------------------------------------------------

    def _new_order(self, body: dict[str, Any]) -> dict[str, Any]:
        now = _now()
        return {
            "id": str(uuid.uuid4()),
            "client_order_id": body.get("client_order_id") or str(uuid.uuid4()),
            "created_at": now,
            "updated_at": now,
            "submitted_at": now,
            "filled_at": None,
            "asset_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, body["symbol"])),
            "symbol": body["symbol"],
            "asset_class": "us_equity",
            "qty": str(body["qty"]),
            "filled_qty": "0",
            "filled_avg_price": None,
            "order_class": "simple",
            "order_type": body["type"],
            "type": body["type"],
            "side": body["side"],
            "time_in_force": body.get("time_in_force", "day"),
            "limit_price": body.get("limit_price"),
            "status": body.get("status", "accepted"),
            "extended_hours": False,
        }

    def _account(self) -> dict[str, Any]:
        value = sum(p["qty"] * p.get("price", p["avg"]) for p in self.positions.values())
        equity = self.cash + value
        return {
            "id": "2d2a4b76-1b0f-4a3e-9a57-6a3b3c1f0f00",
            "account_number": "PA0000001",
            "status": "ACTIVE",
            "currency": "USD",
            "cash": str(self.cash),
            "buying_power": str(self.cash),
            "equity": str(equity),
            "last_equity": str(self.last_equity),
            "portfolio_value": str(equity),
        }

    def _positions(self) -> list[dict[str, Any]]:
        rows = []
        for symbol, p in self.positions.items():
            if abs(p["qty"]) < 1e-9:
                continue
            price = p.get("price", p["avg"])
            rows.append(
                {
                    "asset_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, symbol)),
                    "symbol": symbol,
                    "exchange": "NASDAQ",
                    "asset_class": "us_equity",
                    "avg_entry_price": str(p["avg"]),
                    "qty": str(p["qty"]),
                    "side": "long" if p["qty"] > 0 else "short",
                    "market_value": str(p["qty"] * price),
                    "cost_basis": str(p["qty"] * p["avg"]),
                    "current_price": str(price),
                }
            )
        return rows

    # --- HTTP --------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def _reply(self, status: int, body: Any = None) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (the timeout tests)

            def _error(self, status: int, code: int, message: str) -> None:
                self._reply(status, {"code": code, "message": message})

            def _authorized(self) -> bool:
                if (
                    self.headers.get("APCA-API-KEY-ID") == API_KEY
                    and self.headers.get("APCA-API-SECRET-KEY") == SECRET_KEY
                ):
                    return True
                self._error(401, 40110000, "request is not authorized")
                return False

            def do_GET(self) -> None:  # noqa: N802
                if not self._authorized():
                    return
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/v2/account":
                    return self._reply(200, fake._account())
                if url.path == "/v2/clock":
                    now = _now()
                    clock = {"timestamp": now, "is_open": fake.is_open}
                    return self._reply(200, clock | {"next_open": now, "next_close": now})
                if url.path == "/v2/positions":
                    return self._reply(200, fake._positions())
                if url.path == "/v2/orders:by_client_order_id":
                    order = fake.by_client_id(query.get("client_order_id", ""))
                    if order is None:
                        return self._error(404, 40410000, "order not found")
                    return self._reply(200, order)
                if url.path == "/v2/orders":
                    wanted = query.get("status", "open")
                    orders = [
                        o
                        for o in fake.orders.values()
                        if wanted == "all" or (o["status"] in OPEN_STATUSES) == (wanted == "open")
                    ]
                    return self._reply(200, orders)
                if url.path.startswith("/v2/orders/"):
                    order = fake.orders.get(url.path.rsplit("/", 1)[1])
                    if order is None:
                        return self._error(404, 40410000, "order not found")
                    return self._reply(200, order)
                return self._error(404, 40410000, f"no route {url.path}")

            def do_POST(self) -> None:  # noqa: N802
                if not self._authorized():
                    return
                if urlparse(self.path).path != "/v2/orders":
                    return self._error(404, 40410000, "no route")
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with fake.lock:
                    fake.submit_requests += 1
                    if fake.fail_next_submit_status:
                        status, fake.fail_next_submit_status = fake.fail_next_submit_status, None
                        return self._error(status, 50010000, "internal server error")
                    if fake.reject_next_submit:
                        (status, message), fake.reject_next_submit = fake.reject_next_submit, None
                        return self._error(status, 40310000, message)
                    if fake.by_client_id(body.get("client_order_id", "")) is not None:
                        return self._error(422, 40010001, "client_order_id must be unique")
                    order = fake._new_order(body)
                    fake.orders[order["id"]] = order
                    hold, fake.hold_next_submit_reply_seconds = (
                        fake.hold_next_submit_reply_seconds,
                        0.0,
                    )
                if hold:
                    time.sleep(hold)  # the order exists; the reply arrives too late
                self._reply(200, order)

            def do_DELETE(self) -> None:  # noqa: N802
                if not self._authorized():
                    return
                path = urlparse(self.path).path
                order = fake.orders.get(path.rsplit("/", 1)[1])
                if order is None:
                    return self._error(404, 40410000, "order not found")
                if order["status"] not in OPEN_STATUSES:
                    return self._error(422, 42210000, f"order is already {order['status']}")
                order["status"] = "canceled"
                order["canceled_at"] = _now()
                self._reply(204)

        return Handler
