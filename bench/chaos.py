"""Chaos run: random agency faults and a worker SIGKILLed every 5 s; the ledger must still
equal what the agencies saw.

    .venv/bin/python bench/chaos.py                       # 2,000 checks on Redis
    .venv/bin/python bench/chaos.py --broker rabbitmq     # the same on RabbitMQ
    .venv/bin/python bench/chaos.py --checks 300 --json   # smaller, figures as JSON

Needs PostgreSQL (127.0.0.1:5432, a database is created and dropped), and Redis (the database
of --redis-url is flushed) or RabbitMQ (a virtual host is made with rabbitmqctl and deleted).
Prints: checks, kills, faults, lost, duplicate searches, ledger mismatches; exits 1 unless the
last three are 0. What it does is described in ``workers/chaos.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from workers.chaos import Chaos, ChaosConfig, result_json
from workers.logs import configure_logging


def main(argv: list[str] | None = None) -> int:
    """Run once with the command line's sizes; print the figures."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checks", type=int, default=2000)
    p.add_argument("--broker", choices=("redis", "rabbitmq"), default="redis")
    p.add_argument(
        "--redis-url", default=os.environ.get("CHECKS_TEST_REDIS_URL", "redis://127.0.0.1:6379/1")
    )
    p.add_argument("--threads", type=int, default=8, help="threads per worker process")
    p.add_argument("--kill-every", type=float, default=5.0, help="seconds between SIGKILLs")
    p.add_argument("--chaos-seconds", type=float, default=120.0, help="longest chaos phase")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = p.parse_args(argv)
    configure_logging("ERROR")  # this process only submits; progress goes to stderr
    cfg = ChaosConfig(
        checks=args.checks,
        broker=args.broker,
        redis_url=args.redis_url,
        threads=args.threads,
        kill_every_s=args.kill_every,
        chaos_s=args.chaos_seconds,
        seed=args.seed,
    )
    say = (lambda line: print(line, file=sys.stderr)) if args.json else print
    with tempfile.TemporaryDirectory(prefix="chaos-") as logs:
        result = Chaos(cfg, say).run(Path(logs))
    if args.json:
        print(result_json(result))
    else:
        print(
            f"{result.broker}: {result.checks} checks, {result.kills} kills, "
            f"{result.fault_changes} fault changes ({', '.join(result.faults_seen)}); "
            f"{result.ended_during_chaos} ended during the chaos; "
            f"{result.failed_before_rerun} failed before `rerun --failed`; "
            f"decided {result.decided}, failed {result.failed}; lost {result.lost}, "
            f"duplicate searches {result.duplicate_searches}, "
            f"ledger mismatches {result.ledger_mismatches} "
            f"({result.ledger_rows} ledger rows, {result.agency_searches} agency searches) "
            f"in {result.seconds:.0f} s"
        )
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
