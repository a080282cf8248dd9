"""Benchmarks and soak runs, kept out of the product packages; run from the repository root.

    .venv/bin/python -m bench [--quick]          # throughput and latency (bench/throughput.py)
                                                 # (also `checkctl bench`, from this root)
    .venv/bin/python -m bench.chaos              # faults and killed workers; the ledger audit
    .venv/bin/python -m bench.cpu_per_check 2000 # CPU per check, split by process
    .venv/bin/python -m bench.agency_calls       # client CPU per agency call (live mode)
    .venv/bin/python -m bench.insert_rows        # a few rows: multi-row insert vs pipeline
    .venv/bin/python -m bench.kept_in_flight     # the kept-in-flight phase alone (--split)
    .venv/bin/python bench/retention_sweep.py    # the retention sweep over 1,000,000 checks
    .venv/bin/python bench/api_submit.py         # submissions over HTTP

The figures and how they were measured are in docs/benchmarks.md.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

#: The repository root: worker processes started by a benchmark need it on their path to load
#: :mod:`bench.actors`.
ROOT = Path(__file__).resolve().parents[1]

#: The benchmark's own actors, loaded into ``checkctl worker`` beside the product's.
ACTORS_MODULE = "bench.actors"


def default_redis_url() -> str:
    """Redis for a benchmark (its database is flushed): ``BENCH_REDIS_URL``, else db 9."""
    return os.environ.get("BENCH_REDIS_URL", "").strip() or "redis://127.0.0.1:6379/9"


def stop_on_sigterm() -> None:
    """Turn SIGTERM and SIGHUP into ``SystemExit``, so every ``finally`` runs.

    The benchmarks start worker process groups in sessions of their own (so a Ctrl-C in the
    terminal does not reach them); their ``finally`` blocks kill those groups, which a bare
    SIGTERM would skip.
    """

    def _exit(signum: int, _frame: object) -> None:
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGHUP, _exit)


def worker_path_env() -> dict[str, str]:
    """``PYTHONPATH`` with the repository root first, for worker processes."""
    rest = os.environ.get("PYTHONPATH", "")
    return {"PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), rest) if p)}
