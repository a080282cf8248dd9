"""The short benchmark runs in the suite, so `checkctl bench` keeps working."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_the_quick_benchmark_measures_every_figure_as_a_ratio(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    checkctl = str(Path(sys.executable).parent / "checkctl")
    run = subprocess.run(
        [checkctl, "bench", "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=480,
        cwd=tmp_path,
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
    script = Path(__file__).parents[2] / "bench" / "cpu_per_check.py"
    run = subprocess.run(
        [sys.executable, str(script), "20"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "CHECKS_LOG_LEVEL": "ERROR"},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "20 checks in" in run.stdout and "workers" in run.stdout and "machine" in run.stdout
