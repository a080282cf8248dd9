"""The sandbox over real HTTP on loopback: ``http://127.0.0.1:PORT/<agency>/...``.

The same simulators, fixtures, personas, latency and faults as the in-process sandbox, so live
mode adapters (``CHECKS_<AGENCY>_BASE_URL``) can make real HTTP calls to it, and teams in other
languages can test against it. A ``timeout`` fault holds the connection without answering.

Latency and faults can be changed while it runs: ``POST /_sandbox/latency`` or
``POST /_sandbox/faults`` with a body in the ``CHECKS_SANDBOX_*`` syntax (empty clears);
``GET /_sandbox/calls`` shows the current settings and how many calls were answered.
"""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from agencies.sandbox import Sandbox

#: How long a ``timeout`` fault keeps the connection open without answering.
TIMEOUT_HOLD_SECONDS = 30.0


class _Server(ThreadingHTTPServer):
    # A burst of a thousand checks opens connections faster than they are accepted; the
    # default backlog of 5 drops them and the client's retransmit adds a second or more.
    request_queue_size = 4096
    daemon_threads = True


class SandboxServer:
    """Serves a :class:`Sandbox` on a loopback port, one thread per connection."""

    def __init__(self, sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sandbox = sandbox
        self._loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server = _Server((host, port), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) the server listens on."""
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def base_url(self, agency: str) -> str:
        """The base URL a live-mode adapter for ``agency`` should use."""
        host, port = self.address
        return f"http://{host}:{port}/{agency}"

    def start(self) -> SandboxServer:
        """Start serving in background threads."""
        self._loop_thread.start()
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._loop.call_soon_threadsafe(self._loop.stop)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _answer(self, request: httpx.Request) -> httpx.Response:
        future = asyncio.run_coroutine_threadsafe(
            self.sandbox.router.async_handler(request), self._loop
        )
        return future.result()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                agency, _, rest = self.path.lstrip("/").partition("/")
                if agency == "_sandbox":
                    self._admin(rest)
                    return
                base = server.sandbox.base_urls.get(agency)
                if base is None:
                    self._send(404, b'{"error": "no such agency"}', "application/json")
                    return
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                request = httpx.Request(
                    self.command, f"{base}/{rest}", headers=headers, content=body
                )
                try:
                    response = server._answer(request)
                except httpx.TimeoutException:
                    threading.Event().wait(TIMEOUT_HOLD_SECONDS)
                    self.close_connection = True
                    return
                except Exception:  # an unmatched route or a simulator bug
                    self._send(500, b'{"error": "sandbox error"}', "application/json")
                    return
                self._send(
                    response.status_code,
                    response.content,
                    response.headers.get("content-type", ""),
                    {k: v for k, v in response.headers.items() if k.lower() in ("retry-after",)},
                )

            def _admin(self, what: str) -> None:
                # POST /_sandbox/latency or /_sandbox/faults with the CHECKS_SANDBOX_* syntax.
                length = int(self.headers.get("content-length") or 0)
                spec = self.rfile.read(length).decode() if length else ""
                try:
                    if self.command == "POST" and what == "latency":
                        server.sandbox.set_latency(spec or None)
                    elif self.command == "POST" and what == "faults":
                        server.sandbox.set_faults(spec or None)
                    elif self.command != "GET" or what != "calls":
                        self._send(404, b'{"error": "unknown admin path"}', "application/json")
                        return
                except ValueError as exc:
                    body = json.dumps({"error": str(exc)}).encode()
                    self._send(400, body, "application/json")
                    return
                state = {
                    "latency_ms": server.sandbox.latency_ms,
                    "faults": {k: [str(f) for f in v] for k, v in server.sandbox.faults.items()},
                    "calls": len(server.sandbox.calls),
                }
                self._send(200, json.dumps(state).encode(), "application/json")

            def _send(
                self,
                status: int,
                body: bytes,
                content_type: str,
                extra: dict[str, str] | None = None,
            ) -> None:
                self.send_response(status)
                if content_type:
                    self.send_header("Content-Type", content_type)
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _handle  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # request lines would be noise; bodies are never logged

        return Handler
