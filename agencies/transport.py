"""The live-mode transport: httpx requests sent through aiohttp's connection pool.

Adapters speak httpx (so respx can stand in for every agency in tests); in live mode the bytes
go through aiohttp, whose C parser and connection pool cost about a third of httpcore's CPU
per request (measured with 100 concurrent requests to the sandbox server: 690 us with
httpcore, 230 us through this transport). A worker with hundreds of checks in flight is
CPU-bound in exactly this path.

What matters for our invariants is the error mapping: ``httpx.ConnectError`` and
``httpx.ConnectTimeout`` mean the request was certainly not sent (the runner may then fall
back to another credit reference agency), so only failures before a connection exists map to
them. A connection that drops, times out or answers garbage after the request was written
maps to a read or protocol error: the outcome is unknown, and the step is retried with the
same client reference instead.
"""

from __future__ import annotations

import asyncio
import ssl
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import aiohttp
import httpx
from yarl import URL

#: Idle keep-alive connections are dropped after this long (httpx's own default), before most
#: servers would close them under us.
KEEPALIVE_SECONDS = 5.0


@contextmanager
def _as_httpx_errors() -> Iterator[None]:
    """Raise aiohttp's failures as the httpx exceptions the agency client understands."""
    try:
        yield
    except aiohttp.ConnectionTimeoutError as exc:  # no connection (or none free) in time
        raise httpx.ConnectTimeout(str(exc) or "connect timed out") from exc
    except aiohttp.ClientConnectorError as exc:  # refused, unresolvable, TLS handshake failed
        raise httpx.ConnectError(str(exc)) from exc
    except aiohttp.ServerTimeoutError as exc:  # sent; no answer in time
        raise httpx.ReadTimeout(str(exc) or "read timed out") from exc
    except aiohttp.ServerDisconnectedError as exc:
        raise httpx.RemoteProtocolError(f"server disconnected: {exc}") from exc
    except aiohttp.ClientPayloadError as exc:
        raise httpx.ReadError(f"incomplete answer: {exc}") from exc
    except aiohttp.ClientResponseError as exc:  # an answer that is not HTTP
        raise httpx.RemoteProtocolError(f"malformed answer: {exc.message}") from exc
    except aiohttp.InvalidURL as exc:
        raise httpx.UnsupportedProtocol(f"invalid URL: {exc}") from exc
    except aiohttp.ClientError as exc:  # anything else after connecting: outcome unknown
        raise httpx.ReadError(f"{type(exc).__name__}: {exc}") from exc


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Send httpx requests over one aiohttp session per event loop.

    ``max_connections`` bounds open connections across all hosts; a request waits for a free
    one (within its pool timeout). Cookies are left to httpx, proxies are not read from the
    environment (as with any transport given to an httpx client).
    """

    def __init__(
        self,
        max_connections: int = 2000,
        *,
        verify: ssl.SSLContext | None = None,
        keepalive_seconds: float = KEEPALIVE_SECONDS,
    ) -> None:
        self._limit = max_connections
        self._keepalive = keepalive_seconds
        # Building a TLS context loads the CA bundle (tens of milliseconds): once per transport.
        self._ssl = verify if verify is not None else httpx.create_ssl_context()
        # A session belongs to the loop it was made on (tests run several loops in turn).
        self._sessions: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, aiohttp.ClientSession
        ] = weakref.WeakKeyDictionary()

    def _session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._limit,
                limit_per_host=0,
                keepalive_timeout=self._keepalive,
                ssl=self._ssl,
            )
            session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,  # httpx decodes, as with its own transport
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            )
            self._sessions[loop] = session
        return session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session()
        timeout = request.extensions.get("timeout", {})
        connect, pool = timeout.get("connect"), timeout.get("pool")
        body = await request.aread()
        with _as_httpx_errors():
            response = await session.request(
                request.method,
                URL(str(request.url), encoded=True),
                headers=request.headers.multi_items(),
                data=body or None,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    # Waiting for a free connection and then opening one.
                    connect=None if connect is None or pool is None else connect + pool,
                    sock_connect=connect,
                    sock_read=timeout.get("read"),
                ),
            )
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            stream=_Body(response),
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": (response.reason or "").encode("latin-1", "replace"),
            },
        )

    async def aclose(self) -> None:
        """Close this loop's session (a session of another, finished loop cannot be awaited)."""
        session = self._sessions.pop(asyncio.get_running_loop(), None)
        if session is not None and not session.closed:
            await session.close()


class _Body(httpx.AsyncByteStream):
    """An aiohttp response body as an httpx stream; closing it frees the connection."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors():
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        if self._response.content.at_eof():
            self._response.release()  # read to the end: the connection is kept alive
        else:
            self._response.close()  # abandoned part-way (over the size cap): not reusable
