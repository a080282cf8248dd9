"""A small chaos run (issue 9, item 4): faults on every agency, a worker SIGKILLed every few
seconds, then faults cleared and ``rerun --failed``: nothing lost, no duplicate search, and the
ledger equal to the agencies' own call log. ``python -m bench.chaos`` runs the full-size
version."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REDIS_URL
from tests.integration.brokers import rabbit_missing

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize(("broker", "checks"), [("redis", 200), ("rabbitmq", 200)])
def test_under_faults_and_killed_workers_no_check_is_lost_and_the_ledger_equals_the_agencies(
    broker: str, checks: int
) -> None:
    if broker == "rabbitmq" and (missing := rabbit_missing()):
        pytest.skip(missing)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.chaos",
            "--json",
            "--broker",
            broker,
            "--redis-url",
            REDIS_URL,
            "--checks",
            str(checks),
            "--chaos-seconds",
            "12",
            # Checks kept in flight through the chaos: the phase ends early once every check
            # has ended, and a fast worker ends 200 checks at 100 ms within 3 s. At 300 ms on
            # 2 x 4 threads they take about 9 s: kills at 3, 4.5, 6 s meet work in flight.
            "--latency-ms",
            "300",
            "--threads",
            "4",
            "--kill-every",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("CHECKS_")},
    )
    assert run.stdout.strip(), run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    context = f"{result}\n{run.stderr[-2000:]}"
    assert result["kills"] >= 2 and result["fault_changes"] >= 5, context
    assert result["lost"] == 0 and result["decided"] + result["failed"] == checks, context
    assert result["duplicate_searches"] == 0, context
    assert result["ledger_mismatches"] == 0, context
    assert result["ledger_rows"] >= checks * 2, context
    assert run.returncode == 0 and result["ok"], context
