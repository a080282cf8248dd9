"""The short benchmark and the CPU split keep working: opt in with ``pytest -m bench``.

They take minutes on a shared machine, so the default run leaves them out (pyproject's
``addopts``); ``-m bench`` on the command line replaces that selection.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REDIS_URL

pytestmark = [pytest.mark.integration, pytest.mark.bench]

ROOT = Path(__file__).parents[2]


def _env() -> dict[str, str]:
    # The benchmark flushes its Redis database: use the suite's, never another's.
    return {**os.environ, "BENCH_REDIS_URL": REDIS_URL, "CHECKS_LOG_LEVEL": "ERROR"}


def test_the_quick_benchmark_measures_every_figure_as_a_ratio(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=480,
        cwd=ROOT,
        env=_env(),
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["noop_per_s"] > 0 and result["checks_per_s"] > 0
    assert 0 < result["checks_to_noop_ratio"] < 10
    assert set(result["latency_ms"]) == {"p50", "p95", "p99"}
    assert result["latency_ratio"]["p50"] > 0 and result["sequential_latency_ratio"]["p50"] > 0
    assert result["inflight"] and result["memory_kib"][0]["workers"]
    (kept,) = result["sustained"]
    assert kept["in_flight"] == 10 and 0 < kept["mean_in_flight"] <= 10 and kept["p50_s"] > 1.0
    assert set(result["targets"]) and result["machine"]["cpus"]
    assert "benchmark" in run.stdout and "no-op" in run.stdout
    assert "kept in flight" in run.stdout


def test_cpu_per_check_splits_the_machine_cpu_of_a_short_run() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench.cpu_per_check", "20"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=_env(),
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "20 checks in" in run.stdout and "workers" in run.stdout and "machine" in run.stdout
