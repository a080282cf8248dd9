"""CPU per check: run N checks at 0 ms agency latency and split the machine's CPU time.

    .venv/bin/python -m bench.cpu_per_check 2000

Uses the same set-up as ``python -m bench`` (a fresh database, the HTTP simulator, two
``checkctl worker`` processes) and reads CPU times from /proc around the run: the workers', the
simulator's, and everything else on the machine (PostgreSQL, Redis, this process). Run it twice,
once per version of the code, back to back, to compare two versions; a single figure moves
with the machine.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from rich.console import Console

from bench import stop_on_sigterm
from bench.throughput import Bench, BenchConfig

TICK = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """User + system seconds of one process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def machine_busy() -> float:
    """Seconds of CPU the whole machine spent not idle."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / TICK


def main(n: int) -> None:
    bench = Bench(BenchConfig(), Console(stderr=True))
    with bench.environment():
        assert bench.sandbox is not None
        bench.set_latency(0)
        with bench.workers(16) as pids:
            bench.warm_up(pids)
            ids = bench.create_checks(n)
            watched = [*pids, bench.sandbox.pid]
            before = {p: process_cpu(p) for p in watched}
            busy, started = machine_busy(), time.monotonic()
            bench.enqueue(ids)
            bench.wait_ended(ids, 900, lambda done: None)
            took = time.monotonic() - started
            spent = {p: process_cpu(p) - before[p] for p in watched}
            machine = machine_busy() - busy
    workers = sum(spent[p] for p in pids)
    sandbox = spent[bench.sandbox.pid]
    per = 1000 / n
    print(
        f"{n} checks in {took:.1f} s ({n / took:.1f}/s); CPU per check: "
        f"workers {workers * per:.2f} ms, simulator {sandbox * per:.2f} ms, "
        f"everything else {(machine - workers - sandbox) * per:.2f} ms, "
        f"machine {machine * per:.2f} ms"
    )


if __name__ == "__main__":
    stop_on_sigterm()  # so the worker process groups are killed on SIGTERM too
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
