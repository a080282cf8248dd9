"""``checkctl worker MODULE...`` loads more actor modules beside the product's (as dramatiq's CLI
does): how the benchmark brings its own actors into the worker processes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import redis
from dramatiq.message import Message

from tests.conftest import REDIS_URL
from tests.integration.conftest import CHECKCTL, WorkerProcess, subprocess_env, wait_for
from workers.broker import build_broker
from workers.settings import WorkerSettings

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]


def test_a_worker_runs_the_actors_of_an_extra_module_named_on_its_command_line(
    tmp_path: Path, redis_clean: redis.Redis
) -> None:
    env = subprocess_env(f"sqlite:///{tmp_path / 'checks.db'}", PYTHONPATH=str(ROOT))
    out, err = tmp_path / "worker.out", tmp_path / "worker.err"
    with out.open("wb") as so, err.open("wb") as se:
        proc = subprocess.Popen(
            [CHECKCTL, "worker", "tests.integration.extra_actors", "--processes", "1"],
            env=env,
            stdout=so,
            stderr=se,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=tmp_path,
        )
    worker = WorkerProcess("extra", proc, out, err, env)
    broker = build_broker(WorkerSettings(broker_url=REDIS_URL))
    marker = tmp_path / "marker.txt"
    try:
        broker.enqueue(
            Message(
                queue_name="extra_actors_test",
                actor_name="write_marker",
                args=(str(marker), "ran"),
                kwargs={},
                options={},
            )
        )
        wait_for(
            "the extra module's actor to run",
            lambda: marker.exists() and marker.read_text(encoding="utf-8") == "ran",
            timeout=60,
            diagnostics=worker.diagnostics,
        )
    finally:
        worker.kill()
        broker.close()
