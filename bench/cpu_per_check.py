"""CPU per check: run N checks at 0 ms agency latency and split the machine's CPU time.

    .venv/bin/python -m bench.cpu_per_check 2000

The throughput phase of ``python -m bench`` on its own: a fresh database, the HTTP simulator,
two warm ``checkctl worker`` processes, N checks queued at once; CPU times are read from /proc
around the run and split between the workers, the simulator, PostgreSQL, Redis and the rest of
the machine (:mod:`bench.cpu`). To compare two versions of the code, run it for each, back to
back, more than once: a single figure moves with whatever else the machine is doing.
"""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import Progress

from bench import stop_on_sigterm
from bench.cpu import describe
from bench.throughput import Bench, BenchConfig
from workers.logs import configure_logging


def main(n: int) -> None:
    """Run ``n`` checks and print the rate and the CPU split per check."""
    configure_logging("ERROR")  # this process only loads work
    console = Console(stderr=True)
    bench = Bench(BenchConfig(throughput_checks=n), console)
    with bench.environment(), Progress(console=console) as progress:
        rate, per = bench.measure_throughput(progress)
    took = (n - 1) / rate
    print(f"{n} checks in {took:.1f} s ({rate:.1f}/s, first start to last end); {describe(per)}")


if __name__ == "__main__":
    stop_on_sigterm()  # so the worker process groups are killed on SIGTERM too
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
