"""Client CPU per agency call in live mode: the adapters against the HTTP simulator.

    .venv/bin/python -m bench.agency_calls [--calls 3000] [--concurrency 100] [--repeat 3]

Starts ``checkctl sandbox serve`` (agencies at 0 ms), builds the live-mode adapters the
workers build, and runs a check's searches (a hard credit search and a fraud search for the
sandbox persona alice) ``--calls`` times in all, ``--concurrency`` at once, on one event loop.
Reported: this process's CPU per call (user + system), least and median over the repeats: the
worker's agency path without the database and the broker (the simulator is another process).
Each repeat runs on fresh clients after a warm-up (tokens fetched, connections open).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from agencies.config import AgencySettings, build_agencies
from agencies.contract import Role, SearchType
from agencies.registry import adapter_classes
from bench import stop_on_sigterm
from checks.inputs import inputs_from_request
from checks.request import parse_check_request
from checks.samples import persona_request
from workers.logs import configure_logging

#: The searches of one check for alice (the benchmark's persona): CRA, then fraud.
SEARCHES = (("equifax", SearchType.HARD), ("cifas", SearchType.FRAUD))


async def _run(urls: dict[str, str], calls: int, concurrency: int) -> float:
    """CPU seconds per call for ``calls`` searches, ``concurrency`` at a time."""
    settings = AgencySettings(
        mode="live",
        base_urls=urls,
        credentials={
            name: {c: "sandbox" for c in cls.credential_names}
            for name, cls in adapter_classes().items()
        },
    )
    agencies = build_agencies(settings)
    inputs = inputs_from_request(parse_check_request(persona_request("alice", "BENCH-CALLS")))
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        agency, kind = SEARCHES[i % len(SEARCHES)]
        request = inputs.search_request(Role.APPLICANT, kind, f"BENCH-{i}")
        async with gate:
            await agencies[agency].search(request)

    try:
        await asyncio.gather(*(one(i) for i in range(2 * concurrency)))  # warm-up
        started = time.process_time()
        await asyncio.gather(*(one(i) for i in range(calls)))
        return (time.process_time() - started) / calls
    finally:
        await agencies.aclose()


def main(argv: list[str] | None = None) -> int:
    """Measure and print the CPU per call of each repeat and their median."""
    p = argparse.ArgumentParser(prog="python -m bench.agency_calls")
    p.add_argument("--calls", type=int, default=3000)
    p.add_argument("--concurrency", type=int, default=100)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    stop_on_sigterm()
    configure_logging("ERROR")
    checkctl = str(Path(sys.executable).parent / "checkctl")
    server = subprocess.Popen(
        [checkctl, "sandbox", "serve", "--port", "0", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "CHECKS_SANDBOX_LATENCY_MS": "0", "CHECKS_SANDBOX_FAULTS": ""},
    )
    try:
        assert server.stdout is not None
        urls = json.loads(server.stdout.readline())["base_urls"]
        per_call = [
            asyncio.run(_run(urls, args.calls, args.concurrency)) for _ in range(args.repeat)
        ]
    finally:
        server.terminate()
        server.wait(10)
    runs = ", ".join(f"{x * 1e6:.0f}" for x in per_call)
    # On a shared machine a run only ever gets slower: the least is the steadiest figure.
    print(
        f"client CPU per agency call: least {min(per_call) * 1e6:.0f} us, median "
        f"{statistics.median(per_call) * 1e6:.0f} us ({runs} us; {args.calls} calls, "
        f"{args.concurrency} at once)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
