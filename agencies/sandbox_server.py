"""The sandbox over real HTTP on loopback: ``http://127.0.0.1:PORT/<agency>/...``.

The same simulators, fixtures, personas, latency and faults as the in-process sandbox, so live
mode adapters (``CHECKS_<AGENCY>_BASE_URL``) can make real HTTP calls to it, and teams in other
languages can test against it. A ``timeout`` fault holds the connection without answering.

Latency and faults can be changed while it runs: ``POST /_sandbox/latency`` or
``POST /_sandbox/faults`` with a body in the ``CHECKS_SANDBOX_*`` syntax (empty clears);
``GET /_sandbox/calls`` shows the current settings, how many calls were answered, and every
distinct search each agency recorded (``searches``: agency -> client reference -> search type),
the agency's side of a ledger audit (:func:`fetch_searches`, ``checkctl ledger audit``).

It is an ASGI app served by uvicorn on one event loop (uvloop and httptools where installed):
a thousand open connections cost a thousand small tasks, not a thousand threads, so the
simulator stays cheap next to the workers it is measuring.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx
import uvicorn

from agencies.sandbox import Sandbox

#: How long a ``timeout`` fault keeps the connection open without answering.
TIMEOUT_HOLD_SECONDS = 30.0
#: Connections waiting to be accepted; a burst of checks opens many at once.
BACKLOG = 4096

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class SandboxApp:
    """The ASGI app: ``/<agency>/...`` to the simulators, ``/_sandbox/...`` to the settings."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = await _read_body(receive)
        agency, _, rest = scope["path"].lstrip("/").partition("/")
        if agency == "_sandbox":
            await self._admin(scope["method"], rest, body.decode(), send)
            return
        base = self.sandbox.base_urls.get(agency)
        if base is None:
            await _send(send, 404, b'{"error": "no such agency"}', "application/json")
            return
        url = f"{base}/{rest}"
        handler = self.sandbox.handler(scope["method"], url)
        if handler is None:  # a path or method the agency does not serve
            await _send(send, 500, b'{"error": "sandbox error"}', "application/json")
            return
        query = scope.get("query_string", b"").decode("latin-1")
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in scope["headers"]
            if k.lower() != b"host"
        ]
        request = httpx.Request(
            scope["method"], url + (f"?{query}" if query else ""), headers=headers, content=body
        )
        try:
            response = await handler(request)
        except httpx.TimeoutException:
            await asyncio.sleep(TIMEOUT_HOLD_SECONDS)  # the client gives up first
            raise
        except Exception:  # a simulator bug
            await _send(send, 500, b'{"error": "sandbox error"}', "application/json")
            return
        retry_after = response.headers.get("retry-after")
        await _send(
            send,
            response.status_code,
            response.content,
            response.headers.get("content-type", ""),
            {"retry-after": retry_after} if retry_after else None,
        )

    async def _admin(self, method: str, what: str, spec: str, send: Send) -> None:
        # POST /_sandbox/latency or /_sandbox/faults with the CHECKS_SANDBOX_* syntax.
        try:
            if method == "POST" and what == "latency":
                self.sandbox.set_latency(spec or None)
            elif method == "POST" and what == "faults":
                self.sandbox.set_faults(spec or None)
            elif method != "GET" or what != "calls":
                await _send(send, 404, b'{"error": "unknown admin path"}', "application/json")
                return
        except ValueError as exc:
            await _send(send, 400, json.dumps({"error": str(exc)}).encode(), "application/json")
            return
        state = {
            "latency_ms": self.sandbox.latency_ms,
            "faults": {k: [str(f) for f in v] for k, v in self.sandbox.faults.items()},
            "calls": len(self.sandbox.calls),
            # Distinct notices of disassociation each CRA recorded (a resend is not counted).
            "notices": {a: len(self.sandbox.notices(a)) for a in sorted(self.sandbox.base_urls)},
            "searches": self.sandbox.searches(),
        }
        await _send(send, 200, json.dumps(state).encode(), "application/json")


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _send(
    send: Send, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None
) -> None:
    headers = [(b"content-length", str(len(body)).encode())]
    if content_type:
        headers.append((b"content-type", content_type.encode("latin-1")))
    headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def fetch_searches(server_url: str, timeout: float = 10.0) -> dict[str, dict[str, str]]:
    """The searches a running sandbox server recorded (``GET /_sandbox/calls``).

    ``server_url`` is the server's root, e.g. ``http://127.0.0.1:8765``. Raises
    ``httpx.HTTPError`` if it cannot be read.
    """
    response = httpx.get(server_url.rstrip("/") + "/_sandbox/calls", timeout=timeout)
    response.raise_for_status()
    searches: dict[str, dict[str, str]] = response.json()["searches"]
    return searches


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is not built for every platform
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class SandboxServer:
    """Serves a :class:`Sandbox` on a loopback port from a background thread."""

    def __init__(self, sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sandbox = sandbox
        # Bound here, so the port is known (port 0 picks one) before the server starts.
        self._socket = socket.create_server((host, port), backlog=BACKLOG)
        config = uvicorn.Config(
            SandboxApp(sandbox),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_keep_alive=60,
            backlog=BACKLOG,
        )
        self._server = uvicorn.Server(config)
        self._loop = _new_loop()
        self._thread = threading.Thread(target=self._serve, name="sandbox-http", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) the server listens on."""
        host, port = self._socket.getsockname()[:2]
        return str(host), int(port)

    def base_url(self, agency: str) -> str:
        """The base URL a live-mode adapter for ``agency`` should use."""
        host, port = self.address
        return f"http://{host}:{port}/{agency}"

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._server.serve(sockets=[self._socket]))
        self._loop.close()

    def start(self) -> SandboxServer:
        """Start serving in a background thread; returns once it accepts connections."""
        self._thread.start()
        for _ in range(500):
            if self._server.started or not self._thread.is_alive():
                break
            threading.Event().wait(0.01)
        if not self._server.started:
            raise RuntimeError("the sandbox server did not start")
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.should_exit = True
        self._server.force_exit = True  # do not wait for held (timeout fault) connections
        self._thread.join(10)
        self._socket.close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
