"""``python -m bench``: throughput and latency against the engine's own limit.

    .venv/bin/python -m bench              # the full run (about half an hour)
    .venv/bin/python -m bench --quick      # a small run (a minute or two)
    .venv/bin/checkctl bench --quick       # the same, from the repository's root

Needs PostgreSQL (a database is created and dropped) and Redis (the database of --redis-url,
default ``BENCH_REDIS_URL`` or db 9, is flushed). What is measured: ``bench/throughput.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from rich.console import Console

from bench import default_redis_url, stop_on_sigterm
from bench.throughput import Bench, BenchConfig, render
from workers.logs import configure_logging


def main(argv: list[str] | None = None, prog: str = "python -m bench") -> int:
    """Run the benchmark, write its JSON summary and print the figures."""
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a small run (a minute or two)")
    p.add_argument("--out", type=Path, default=Path("bench-results.json"), help="JSON summary")
    p.add_argument("--processes", type=int, default=2, help="worker processes")
    p.add_argument("--redis-url", default=default_redis_url(), help="Redis (flushed)")
    p.add_argument(
        "--pg-url",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
        help="PostgreSQL server (a database is created and dropped)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = p.parse_args(argv)
    stop_on_sigterm()  # so the worker process groups are killed on SIGTERM too
    configure_logging("ERROR")  # this process only loads work; progress goes to stderr
    cfg = BenchConfig.quick() if args.quick else BenchConfig()
    cfg.processes, cfg.redis_url, cfg.pg_admin_url = args.processes, args.redis_url, args.pg_url
    result = Bench(cfg, console=Console(stderr=True)).run()
    args.out.write_text(json.dumps(asdict(result), indent=2) + "\n")
    if args.json:
        print(json.dumps(asdict(result), indent=2))
    else:
        out = Console()
        render(result, out)
        out.print(f"JSON summary: {args.out}", highlight=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
