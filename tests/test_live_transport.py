"""The live-mode transport (httpx over aiohttp) on real sockets: answers, limits, and failures.

What a failure maps to decides whether a credit search may be repeated elsewhere: only a
request that was certainly not sent may fall back to another agency. Each failure here comes
from a small server on loopback that misbehaves in one way.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable

import httpx
import pytest

from agencies.config import build_sandbox
from agencies.errors import TransientAgencyError
from agencies.http import AgencyClient, HttpPolicy
from agencies.sandbox_server import SandboxServer
from agencies.transport import AiohttpTransport

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{"ok": true}'


async def _read_request(reader: asyncio.StreamReader) -> bool:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        ),
        0,
    )
    await reader.readexactly(length)
    return True


async def _answer_ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while await _read_request(reader):  # keep-alive: answer every request on the connection
            writer.write(OK)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


async def _drop_after_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    writer.close()


async def _answer_garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    writer.write(b"this is not HTTP\r\n\r\n")
    await writer.drain()
    writer.close()


async def _hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    await asyncio.sleep(30)


def _client(url: str, transport: AiohttpTransport, **policy: float) -> AgencyClient:
    http = httpx.AsyncClient(base_url=url, transport=transport)
    return AgencyClient("cifas", http, HttpPolicy(quick_retries=0, **policy))  # type: ignore[arg-type]


async def _call(handler: Handler, **policy: float) -> tuple[TransientAgencyError | None, int]:
    """One agency call to a server running ``handler``; the error (if any) and connections."""
    accepted = 0

    async def counted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        await handler(reader, writer)

    server = await asyncio.start_server(counted, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport = AiohttpTransport(max_connections=10)
    client = _client(f"http://127.0.0.1:{port}", transport, **policy)
    try:
        await client.request("POST", "/search", json={"q": 1})
        await client.request("POST", "/search", json={"q": 2})
        return None, accepted
    except TransientAgencyError as exc:
        return exc, accepted
    finally:
        await transport.aclose()
        server.close()


def test_answers_come_back_and_the_connection_is_kept_alive() -> None:
    error, connections = asyncio.run(_call(_answer_ok))
    assert error is None
    assert connections == 1  # the second call reused the first call's connection


def test_nothing_listening_is_certainly_not_sent() -> None:
    with socket.socket() as s:  # a port that was free a moment ago
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def go() -> TransientAgencyError:
        transport = AiohttpTransport()
        try:
            await _client(f"http://127.0.0.1:{port}", transport).request("GET", "/")
        except TransientAgencyError as exc:
            return exc
        finally:
            await transport.aclose()
        raise AssertionError("expected a failure")

    error = asyncio.run(go())
    assert error.code == "agency_unreachable"
    assert error.sent is False  # may fall back to another agency


@pytest.mark.parametrize(
    ("handler", "code"),
    [
        (_drop_after_request, "agency_unavailable"),
        (_answer_garbage, "agency_unavailable"),
        (_hold, "agency_timeout"),
    ],
    ids=["dropped-after-request", "garbage-answer", "no-answer"],
)
def test_a_failure_after_the_request_was_written_leaves_the_outcome_unknown(
    handler: Handler, code: str
) -> None:
    error, _ = asyncio.run(_call(handler, read_timeout=0.3))
    assert error is not None
    assert error.code == code
    assert error.sent is True  # retried with the same reference, never sent elsewhere


def _burst(n: int, latency_ms: int, max_connections: int) -> tuple[list[int], float]:
    """Send n searches at once to the sandbox answering after ``latency_ms``.

    Returns the status codes and how long the whole burst took.
    """
    sandbox = build_sandbox()
    sandbox.set_latency(str(latency_ms))
    with SandboxServer(sandbox) as server:
        url = server.base_url("cifas") + "/nfd/v2/search"

        async def go() -> tuple[list[int], float]:
            transport = AiohttpTransport(max_connections=max_connections)
            # Generous timeouts: these tests are about waits overlapping, and a loaded machine
            # may take seconds to accept a thousand connections.
            async with httpx.AsyncClient(transport=transport, timeout=60.0) as client:
                started = time.monotonic()
                answers = await asyncio.gather(*(client.post(url, json={}) for _ in range(n)))
                return [a.status_code for a in answers], time.monotonic() - started

        return asyncio.run(go())


def test_connections_are_bounded_and_a_burst_waits_for_free_ones() -> None:
    # Given the sandbox answering after 200 ms and a transport of at most 50 connections,
    # when 200 requests are sent at once
    _, floor = _burst(200, latency_ms=0, max_connections=50)
    statuses, took = _burst(200, latency_ms=200, max_connections=50)

    # Then every one is answered (here: refused, no API key), in four waves of 50, not one: at
    # least four latencies, and not much more than four on top of the burst's own cost
    assert statuses == [401] * 200
    assert 0.8 <= took < floor + 4 * 0.2 + 1.5, f"{took:.2f} s against {floor:.2f} s at 0 ms"


def test_a_thousand_requests_in_flight_at_once() -> None:
    # Given what a burst of 1,000 costs on this machine when the sandbox answers at once
    _, floor = _burst(1000, latency_ms=0, max_connections=2000)

    # When 1,000 requests are sent at once to the sandbox answering after 500 ms
    statuses, took = _burst(1000, latency_ms=500, max_connections=2000)

    # Then all are answered in about one latency more than the burst's own cost: the waits
    # overlap (queued behind each other they would add seconds, in waves at least 1 s)
    assert statuses == [401] * 1000
    assert took < floor + 3 * 0.5, f"{took:.2f} s against {floor:.2f} s at 0 ms"
