"""A fake Alpaca market data API on 127.0.0.1 for the real alpaca-py clients.

Endpoints (paths and JSON shapes as alpaca-py 0.4x requests and parses them):
- GET /v2/stocks/bars          {"bars": {SYM: [{"t","o","h","l","c","v",...}]}, "next_page_token"}
- GET /v2/stocks/trades/latest {"trades": {SYM: {"t","x","p","s","c","i","z"}}}
- GET /v1beta1/news            {"news": [{"id","headline",...,"symbols"}], "next_page_token"}
Pagination follows `limit`/`page_token` like the real API, so the SDK's paging loop is exercised.
Requests without the expected key headers get 403. Every request is recorded in `requests`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

import pandas as pd

NEW_YORK = ZoneInfo("America/New_York")
KEY_ID = "fake-key"
SECRET = "fake-secret"


@dataclass
class FakeAlpacaData:
    """What the fake serves: daily bars per symbol and a list of news articles."""

    bars: dict[str, pd.DataFrame] = field(default_factory=dict)
    news: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def add_news(
        self, news_id: int, symbols: list[str], created_at: datetime, headline: str
    ) -> None:
        stamp = created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.news.append(
            {
                "id": news_id,
                "headline": headline,
                "author": "Fake Wire",
                "created_at": stamp,
                "updated_at": stamp,
                "summary": f"summary of {headline}",
                "content": "",
                "images": [],
                "symbols": symbols,
                "source": "benzinga",
                "url": f"https://example.invalid/news/{news_id}",
            }
        )


def _time(value: str | None) -> pd.Timestamp | None:
    if not value:
        return None
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _page(
    items: list[Any], params: dict[str, str], default_limit: int
) -> tuple[list[Any], str | None]:
    offset = int(params.get("page_token") or 0)
    limit = int(params.get("limit") or default_limit)
    chunk = items[offset : offset + limit]
    more = offset + limit < len(items)
    return chunk, str(offset + limit) if more else None


class _Handler(BaseHTTPRequestHandler):
    data: FakeAlpacaData

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        pass  # keep test output clean

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:  # noqa: N802 (stdlib name)
        url = urlparse(self.path)
        params = {k: v[-1] for k, v in parse_qs(url.query).items()}
        self.data.requests.append((url.path, params))
        if (
            self.headers.get("APCA-API-KEY-ID") != KEY_ID
            or self.headers.get("APCA-API-SECRET-KEY") != SECRET
        ):
            self._reply(403, {"code": 40310000, "message": "forbidden"})
            return
        if url.path == "/v2/stocks/bars":
            self._reply(200, self._bars(params))
        elif url.path == "/v2/stocks/trades/latest":
            self._reply(200, self._latest_trades(params))
        elif url.path == "/v1beta1/news":
            self._reply(200, self._news(params))
        else:
            self._reply(404, {"code": 40410000, "message": "endpoint not found"})

    def _bars(self, params: dict[str, str]) -> dict[str, Any]:
        start, end = _time(params.get("start")), _time(params.get("end"))
        rows: list[tuple[str, dict[str, Any]]] = []
        for symbol in params.get("symbols", "").split(","):
            frame = self.data.bars.get(symbol)
            if frame is None:
                continue
            for day, bar in frame.iterrows():
                opened = pd.Timestamp(day).tz_localize(NEW_YORK).tz_convert("UTC")
                if (start is not None and opened < start) or (end is not None and opened > end):
                    continue
                rows.append(
                    (
                        symbol,
                        {
                            "t": opened.strftime("%Y-%m-%dT%H:%M:%SZ"),
                            "o": bar["open"],
                            "h": bar["high"],
                            "l": bar["low"],
                            "c": bar["close"],
                            "v": bar["volume"],
                            "n": 1000,
                            "vw": bar["close"],
                        },
                    )
                )
        chunk, token = _page(rows, params, 1000)
        grouped: dict[str, list[dict[str, Any]]] = {}
        for symbol, row in chunk:
            grouped.setdefault(symbol, []).append(row)
        return {"bars": grouped, "next_page_token": token}

    def _latest_trades(self, params: dict[str, str]) -> dict[str, Any]:
        trades = {}
        for symbol in params.get("symbols", "").split(","):
            frame = self.data.bars.get(symbol)
            if frame is None or frame.empty:
                continue
            trades[symbol] = {
                "t": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "x": "V",
                "p": float(frame["close"].iloc[-1]),
                "s": 100,
                "c": ["@"],
                "i": 1,
                "z": "C",
            }
        return {"trades": trades}

    def _news(self, params: dict[str, str]) -> dict[str, Any]:
        wanted = set(params.get("symbols", "").split(",")) - {""}
        start, end = _time(params.get("start")), _time(params.get("end"))
        items = []
        for article in self.data.news:
            created = _time(article["created_at"])
            assert created is not None
            if wanted and not wanted & set(article["symbols"]):
                continue
            if (start is not None and created < start) or (end is not None and created > end):
                continue
            items.append(article)
        items.sort(key=lambda a: a["created_at"], reverse=params.get("sort") == "desc")
        chunk, token = _page(items, params, 10)
        return {"news": chunk, "next_page_token": token}


@contextmanager
def serve_alpaca_data(data: FakeAlpacaData) -> Iterator[str]:
    """Run the fake on a free loopback port; yields its base URL (for ALPACA_DATA_BASE_URL)."""
    handler = type("BoundHandler", (_Handler,), {"data": data})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
