"""Submit throughput: ``POST /v1/checks`` on one server process against the Python API.

    .venv/bin/python bench/api_submit.py [--requests 2000] [--concurrency 32] [--sqlite]

On a fresh PostgreSQL database (``--sqlite``: a SQLite file) with the stub broker and no worker,
so only submission is measured: validation, planning, the check's insert and one queued message.
It runs ``checkctl serve``'s app on uvicorn in a child process (one process, one event loop) and
drives it from this process over loopback HTTP with ``concurrency`` requests in flight, each a
new idempotency key; then it submits the same number through ``CheckService.submit`` in this
process, on one thread and on ``concurrency`` threads. It prints requests per second and
p50 / p99 latency for each. Not a test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

#: One key for this run, shared with the server process (both read what the other wrote).
_KEY = os.environ.get("CHECKS_BENCH_KEY") or ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def database(sqlite: bool) -> Iterator[str]:
    """A fresh database URL, dropped afterwards."""
    if sqlite:
        with tempfile.TemporaryDirectory() as d:
            yield f"sqlite:///{d}/bench.db"
        return
    from sqlalchemy import create_engine, text

    name = f"api_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def bench_env(url: str) -> dict[str, str]:
    """The server's and this process's settings: the given database, stub broker, no limit."""
    global _KEY
    if not _KEY:
        from cryptography.fernet import Fernet

        _KEY = Fernet.generate_key().decode()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHECKS_")}
    env.update(
        CHECKS_DATABASE_URL=url,
        CHECKS_BROKER_URL="stub://",
        CHECKS_ENCRYPTION_KEYS=os.environ.get("CHECKS_ENCRYPTION_KEYS") or _KEY,
        CHECKS_API_RATE_PER_SECOND="1000000",
        CHECKS_API_RATE_BURST="1000000",
        CHECKS_LOG_LEVEL="WARNING",
    )
    return env


def serve(port: int) -> None:
    """Child process: the app on uvicorn, without the in-process worker."""
    import uvicorn

    from web import create_app

    uvicorn.run(
        create_app(run_worker=False),
        host="127.0.0.1",
        port=port,
        access_log=False,
        log_config=None,
        loop="uvloop",
        # Longer than any pause between two requests of a flow: no race with a closing socket.
        timeout_keep_alive=60,
        http="httptools",
    )


def summary(label: str, latencies: list[float], seconds: float) -> dict[str, Any]:
    """Requests per second and latency percentiles, printed as one line."""
    q = statistics.quantiles(latencies, n=100)
    row = {
        "path": label,
        "requests": len(latencies),
        "per_second": round(len(latencies) / seconds, 1),
        "p50_ms": round(q[49] * 1000, 1),
        "p99_ms": round(q[98] * 1000, 1),
    }
    print(
        f"{label:<34} {row['per_second']:>8}/s   p50 {row['p50_ms']:>6} ms   "
        f"p99 {row['p99_ms']:>6} ms",
        flush=True,
    )
    return row


async def http_run(
    base: str, headers: dict[str, str], bodies: list[dict[str, Any]], concurrency: int
) -> tuple[list[float], float]:
    """POST every body with ``concurrency`` in flight; per-request latencies and wall time."""
    latencies: list[float] = []
    failures: list[str] = []
    queue = iter(bodies)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits) as client:

        async def one_flow() -> None:
            for body in queue:
                t = time.perf_counter()
                try:
                    r = await client.post("/v1/checks", json=body)
                except httpx.TransportError as exc:
                    failures.append(type(exc).__name__)
                    continue
                latencies.append(time.perf_counter() - t)
                if r.status_code != 202:
                    failures.append(str(r.status_code))

        started = time.perf_counter()
        await asyncio.gather(*(one_flow() for _ in range(concurrency)))
        took = time.perf_counter() - started
    if failures:
        print(f"  {len(failures)} request(s) failed: {sorted(set(failures))}", flush=True)
    return latencies, took


def python_run(
    submit: Callable[[dict[str, Any]], Any], bodies: list[dict[str, Any]], threads: int
) -> tuple[list[float], float]:
    """Submit every body through the Python API on ``threads`` threads."""

    def timed(body: dict[str, Any]) -> float:
        t = time.perf_counter()
        submit(body)
        return time.perf_counter() - t

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        latencies = list(pool.map(timed, bodies))
    return latencies, time.perf_counter() - started


def main() -> None:
    """Run both measurements and print them."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return

    from checks.samples import persona_request

    def bodies(tag: str) -> list[dict[str, Any]]:
        run = uuid.uuid4().hex[:8]
        out = []
        for i in range(args.requests):
            body = persona_request("alice", f"B-{tag}-{run}-{i}")
            # A different person each time, as in real traffic: one person's checks share a
            # subject row, whose update would serialise them.
            body["applicant"]["surname"] = "Bench" + "".join(
                chr(ord("a") + int(c, 16) % 26) for c in uuid.uuid4().hex[:10]
            )
            out.append(body)
        return out

    with database(args.sqlite) as url:
        env = bench_env(url)
        os.environ.update(env)
        from workers.logs import configure_logging

        configure_logging()
        from checks.access import Role
        from checks.tokens import TokenService
        from workers.runtime import get_runtime

        rt = get_runtime()  # migrates the fresh database before the server starts
        token = TokenService(rt.store).create("bench", Role.SUBMITTER, actor="bench").token
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(port)], env=env, start_new_session=True
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("the server did not start")
                time.sleep(0.2)
            headers = {"Authorization": f"Bearer {token}"}
            print(
                f"{args.requests} submits each, {'SQLite' if args.sqlite else 'PostgreSQL'}, "
                f"stub broker, no worker",
                flush=True,
            )
            asyncio.run(http_run(base, headers, bodies("warm")[:200], args.concurrency))
            lat, took = asyncio.run(http_run(base, headers, bodies("http"), args.concurrency))
            summary(f"HTTP, {args.concurrency} in flight", lat, took)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        python_run(rt.service.submit, bodies("warm")[:200], 1)
        lat, took = python_run(rt.service.submit, bodies("py1"), 1)
        summary("Python API, 1 thread", lat, took)
        lat, took = python_run(rt.service.submit, bodies("pyN"), args.concurrency)
        summary(f"Python API, {args.concurrency} threads", lat, took)
        rt.store.dispose()


if __name__ == "__main__":
    main()
