"""What lets hundreds of checks be in flight per worker: pooled transport, sandbox server, worker.

Real HTTP on loopback (the sandbox server) and Dramatiq's StubBroker; no services needed.
"""

from __future__ import annotations

import asyncio
import time

import dramatiq
import httpx
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.brokers.stub import StubBroker

from agencies.config import build_sandbox
from agencies.http import PooledTransport
from agencies.sandbox_server import SandboxServer
from workers.broker import CalmAsyncIO, QuickPollWorker


def _admin_url(server: SandboxServer) -> str:
    host, port = server.address
    return f"http://{host}:{port}/_sandbox/calls"


def _send_at_once(transport: PooledTransport, n: int) -> tuple[list[int], list[int]]:
    """Send n searches at once to a sandbox answering after 200 ms.

    Returns each pool's busy count while they are in the air, and the status codes.
    """
    sandbox = build_sandbox()
    sandbox.set_latency("200")
    with SandboxServer(sandbox) as server:
        url = server.base_url("cifas") + "/nfd/v2/search"

        async def go() -> tuple[list[int], list[int]]:
            async with httpx.AsyncClient(transport=transport) as client:
                calls = asyncio.gather(*(client.post(url, json={}) for _ in range(n)))
                task = asyncio.ensure_future(calls)
                await asyncio.sleep(0.1)
                in_flight = list(transport._busy)
                answers = await task
            return in_flight, [a.status_code for a in answers]

        return asyncio.run(go())


def test_pooled_transport_spreads_requests_and_frees_each_connection_when_closed() -> None:
    # Given a transport of pools of 5 connections
    transport = PooledTransport(max_connections=20, per_pool=5)

    # When 20 requests run at once
    in_flight, statuses = _send_at_once(transport, 20)

    # Then all were answered, four pools carried 5 each while they were in the air,
    # and none is left counted busy once the answers were read
    assert statuses == [401] * 20  # no API key: the answer does not matter here
    assert in_flight == [5, 5, 5, 5]
    assert transport._busy == [0, 0, 0, 0]


def test_pooled_transport_fills_the_first_pool_before_opening_another() -> None:
    # Given a transport of pools of 5 connections
    transport = PooledTransport(max_connections=20, per_pool=5)

    # When 7 requests are in the air
    in_flight, _ = _send_at_once(transport, 7)

    # Then the first pool (whose kept-alive connections are reused) is full before a second
    # is opened, and no more pools than needed exist
    assert in_flight == [5, 2]


def test_pooled_transport_frees_its_slot_when_the_connection_fails() -> None:
    # Given nothing listening on the port
    with SandboxServer(build_sandbox()) as server:
        url = _admin_url(server)
    transport = PooledTransport(max_connections=4, per_pool=2)

    async def go() -> None:
        async with httpx.AsyncClient(transport=transport) as client:
            try:
                await client.get(url)
            except httpx.ConnectError:
                return
        raise AssertionError("expected a connection error")

    # When a request cannot connect
    asyncio.run(go())

    # Then its pool is not left counted busy
    assert transport._busy == [0]


def test_sandbox_server_answers_a_thousand_connections_at_once_on_one_loop() -> None:
    # Given the sandbox server with every agency at 200 ms
    sandbox = build_sandbox()
    sandbox.set_latency("200")
    with SandboxServer(sandbox) as server:
        host, port = server.address
        request = (
            b"POST /cifas/nfd/v2/search HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        )

        async def one() -> bytes:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(request)
            line = await reader.readline()
            writer.close()
            return line

        async def burst() -> tuple[list[bytes], float]:
            started = time.monotonic()
            lines = await asyncio.gather(*(one() for _ in range(1000)))
            return lines, time.monotonic() - started

        # When a thousand clients connect and ask at once
        lines, took = asyncio.run(burst())

    # Then every one is answered (here: refused, no API key) well within a few latencies
    assert all(line.startswith(b"HTTP/1.1 401") for line in lines)
    assert took < 3.0


def test_worker_polls_queues_quickly_but_lets_idle_threads_sleep() -> None:
    # Given a worker with a 30 ms consumer poll and Dramatiq's 1 s thread wait
    broker = StubBroker()
    broker.declare_queue("checks")
    worker = QuickPollWorker(broker, poll_ms=30, worker_threads=3)
    worker.start()
    try:
        # Then the consumers poll every 30 ms and the threads wait 1 s on the work queue
        assert {c.worker_timeout for c in worker.consumers.values()} == {30}
        assert {w.timeout for w in worker.workers} == {1.0}
        assert worker.worker_timeout == 1000
    finally:
        worker.stop()


def test_async_actor_threads_check_for_interrupts_once_a_second() -> None:
    # Given the broker middleware with the calm AsyncIO
    broker = StubBroker(middleware=[CalmAsyncIO()])

    @dramatiq.actor(broker=broker)
    async def double(x: int) -> None:
        await asyncio.sleep(0)

    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=50)
    worker.start()
    try:
        double.send(2)
        broker.join(double.queue_name)
        worker.join()
        # Then the event loop thread wakes waiting threads once a second, not ten times
        loop_thread = get_event_loop_thread()
        assert loop_thread is not None
        assert loop_thread.interrupt_check_ival == 1.0
    finally:
        worker.stop()
