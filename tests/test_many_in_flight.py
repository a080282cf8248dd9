"""What lets hundreds of checks be in flight per worker: the sandbox server and the worker.

The live transport has its own tests (tests/test_live_transport.py).

Real HTTP on loopback (the sandbox server) and Dramatiq's StubBroker; no services needed.
"""

from __future__ import annotations

import asyncio
import time

import dramatiq
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.brokers.stub import StubBroker

from agencies.config import build_sandbox
from agencies.sandbox_server import SandboxServer
from workers.broker import DELAY_POLL_MS, CalmAsyncIO, QuickPollWorker


def _thousand_at_once(latency_ms: int) -> tuple[list[bytes], float]:
    """A thousand clients connect and ask at once; their first lines and the time taken."""
    sandbox = build_sandbox()
    sandbox.set_latency(str(latency_ms))
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

        return asyncio.run(burst())


def test_sandbox_server_answers_a_thousand_connections_at_once_on_one_loop() -> None:
    # Given what a thousand connections cost on this machine when the sandbox answers at once
    _, floor = _thousand_at_once(0)

    # When a thousand clients connect and ask at once, every agency at 200 ms
    lines, took = _thousand_at_once(200)

    # Then every one is answered (here: refused, no API key) within a few latencies of that
    # cost: the waits overlap on one loop (one after another they would take 200 s)
    assert all(line.startswith(b"HTTP/1.1 401") for line in lines)
    assert took < floor + 5 * 0.2, f"{took:.2f} s against {floor:.2f} s at 0 ms"


def test_worker_polls_queues_quickly_but_lets_idle_threads_sleep() -> None:
    # Given a worker with a 30 ms consumer poll and Dramatiq's 1 s thread wait
    broker = StubBroker()
    broker.declare_queue("checks")
    worker = QuickPollWorker(broker, poll_ms=30, worker_threads=3)
    worker.start()
    try:
        # Then the work queue's consumer polls every 30 ms, its delay queue's (retries, due
        # seconds later) every DELAY_POLL_MS, and the threads wait 1 s on the work queue
        polls = {name: c.worker_timeout for name, c in worker.consumers.items()}
        assert polls == {"checks": 30, "checks.DQ": DELAY_POLL_MS}
        assert DELAY_POLL_MS > 30
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
