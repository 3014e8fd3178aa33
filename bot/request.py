"""Bot API requests over aiohttp, for python-telegram-bot.

The library's default (`HTTPXRequest`) spent most of the bot's CPU per update in httpx and
httpcore: the connection pool re-checks every pooled connection on each request, so with fifty
chats at once each reply cost 3-5 ms of CPU and the replies queued on one core. The same work
over aiohttp costs a fraction of that (docs/benchmarks/bot.md).

Timeouts mean what they mean for httpx: `pool` is the wait for a free connection of the pool
(kept here, as aiohttp would count it in its connect timeout), `connect` the connection,
`read` the longest gap between bytes of the answer. aiohttp has no write timeout, so `write`
bounds the whole request instead: once it has a connection, it never takes longer than
connect + write + read together. Errors become `telegram.error.TimedOut` and `NetworkError`,
as with httpx, so the library's retries and the bot's error handler work the same.

Proxies come from the environment (HTTP_PROXY, HTTPS_PROXY, NO_PROXY), read once per host
as httpx reads them once per client. aiohttp's own `trust_env` would read them again on every
request, and for each one make two thread hops (proxies, and netrc credentials, which httpx
does not use either): about half of the bot's CPU per reply with fifty chats at once.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.helpers import BasicAuth, get_env_proxy_for_url
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData
from yarl import URL

# What `do_request` receives per timeout: seconds, None (no limit), or BaseRequest.DEFAULT_NONE
# (not given: use this request's own default).
TimeoutArg = float | None | object
# The proxy, and its credentials, for one (scheme, host); (None, None) for a direct connection.
Proxy = tuple[URL | None, BasicAuth | None]

# The same defaults as python-telegram-bot's HTTPXRequest.
DEFAULT_POOL_SIZE = 256
DEFAULT_TIMEOUT = 5.0
DEFAULT_POOL_TIMEOUT = 1.0
DEFAULT_MEDIA_WRITE_TIMEOUT = 20.0


def _seconds(value: object, default: float | None) -> float | None:
    """A timeout given to `do_request`; anything but seconds or None (the library's "not
    given" marker) means this request's default."""
    if value is None or isinstance(value, int | float):
        return value
    return default


def _total(*parts: float | None) -> float | None:
    """The sum of the timeouts, or no limit when any of them is unlimited."""
    if any(part is None for part in parts):
        return None
    return sum(part for part in parts if part is not None)


class AiohttpRequest(BaseRequest):
    """A `BaseRequest` on one `aiohttp.ClientSession` (created in `initialize`)."""

    __slots__ = (
        "_connect_timeout",
        "_media_write_timeout",
        "_pool_size",
        "_pool_timeout",
        "_proxies",
        "_read_timeout",
        "_session",
        "_slots",
        "_write_timeout",
    )

    def __init__(
        self,
        connection_pool_size: int = DEFAULT_POOL_SIZE,
        read_timeout: float | None = DEFAULT_TIMEOUT,
        write_timeout: float | None = DEFAULT_TIMEOUT,
        connect_timeout: float | None = DEFAULT_TIMEOUT,
        pool_timeout: float | None = DEFAULT_POOL_TIMEOUT,
        media_write_timeout: float | None = DEFAULT_MEDIA_WRITE_TIMEOUT,
    ) -> None:
        if connection_pool_size < 1:
            raise ValueError("connection_pool_size must be at least 1")
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None
        # Free connections of the pool; aiohttp counts waiting for one in its connect timeout.
        self._slots = asyncio.Semaphore(connection_pool_size)
        self._proxies: dict[tuple[str, str], Proxy] = {}

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout; the library adds a long poll's own timeout to it."""
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                headers={"User-Agent": self.USER_AGENT},
                # Proxies from the environment are honoured, but looked up once (`_proxy_for`).
                trust_env=False,
            )
            self._proxies.clear()

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: TimeoutArg = BaseRequest.DEFAULT_NONE,
        write_timeout: TimeoutArg = BaseRequest.DEFAULT_NONE,
        connect_timeout: TimeoutArg = BaseRequest.DEFAULT_NONE,
        pool_timeout: TimeoutArg = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data else None
        read = _seconds(read_timeout, self._read_timeout)
        connect = _seconds(connect_timeout, self._connect_timeout)
        pool = _seconds(pool_timeout, self._pool_timeout)
        write = _seconds(write_timeout, self._media_write_timeout if files else self._write_timeout)
        timeout = aiohttp.ClientTimeout(
            total=_total(connect, write, read), connect=connect, sock_read=read
        )
        proxy, proxy_auth = await self._proxy_for(url)
        await self._take_slot(pool)
        try:
            async with session.request(
                method,
                url,
                data=_body(request_data, files),
                timeout=timeout,
                proxy=proxy,
                proxy_auth=proxy_auth,
            ) as response:
                return response.status, await response.read()
        except TimeoutError as err:  # aiohttp's timeouts all derive from it
            raise _mapped(TimedOut, err, url) from _cause(err, url)
        except aiohttp.ClientError as err:
            raise _mapped(NetworkError, err, url) from _cause(err, url)
        finally:
            self._slots.release()

    async def _proxy_for(self, url: str) -> Proxy:
        """The environment's proxy for this URL's scheme and host (HTTP_PROXY, HTTPS_PROXY and
        ALL_PROXY, with credentials from the URL or ~/.netrc; none when NO_PROXY names the host),
        as aiohttp's `trust_env` would choose it, looked up on the first request to that host."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.hostname or "")
        found = self._proxies.get(key)
        if found is None:
            found = await asyncio.to_thread(_env_proxy, url)
            self._proxies[key] = found
        return found

    async def _take_slot(self, pool_timeout: float | None) -> None:
        """Wait for a free connection, at most `pool_timeout` seconds."""
        if not self._slots.locked():  # the usual case: no timer to arm
            await self._slots.acquire()
            return
        try:
            async with asyncio.timeout(pool_timeout):
                await self._slots.acquire()
        except TimeoutError as err:
            raise TimedOut(
                "Pool timeout: all connections in the pool are busy; the request was not sent."
            ) from err


def _env_proxy(url: str) -> Proxy:
    """Blocking (reads the environment, maybe ~/.netrc): aiohttp's choice for `trust_env`."""
    try:
        return get_env_proxy_for_url(URL(url))
    except LookupError:
        return None, None


def _mapped(kind: type[NetworkError], err: Exception, url: str) -> NetworkError:
    """The library's error for an aiohttp one, without the bot token: the Bot API puts the
    token in the URL's path, and some aiohttp messages quote the URL."""
    text = str(err).replace(urlsplit(url).path, "/<bot-token>/...")
    return kind(
        f"aiohttp.{type(err).__name__}: {text}" if text else f"aiohttp.{type(err).__name__}"
    )


def _cause(err: Exception, url: str) -> Exception | None:
    """Chain the original error only when its message cannot show the token."""
    return None if urlsplit(url).path in str(err) else err


def _body(request_data: RequestData | None, files: dict[str, Any] | None) -> Any:
    """A JSON body, or multipart form data when the request uploads files (the two encodings
    the Bot API takes). JSON is encoded in C; a form would percent-encode every byte of a long
    reply in Python (0.2 ms for /help)."""
    if request_data is None:
        return None
    if not files:
        return aiohttp.payload.BytesPayload(
            json.dumps(request_data.parameters).encode(), content_type="application/json"
        )
    form = aiohttp.FormData()
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mimetype) in files.items():
        form.add_field(name, content, filename=filename, content_type=mimetype)
    return form
