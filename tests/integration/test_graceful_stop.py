"""``checkctl worker`` stops within 30 s of SIGTERM, on Redis and RabbitMQ (issue 9, item 5).

SIGTERM to the process group used to hang for ever: the worker process got the signal twice
(directly, and forwarded by its parent), took the second as "kill now" in the middle of its
graceful stop, and waited for ever on consumer threads it had not stopped.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest
from sqlalchemy import select

from checks.models import Check
from tests.helpers import request_for
from tests.integration.brokers import broker_runtime, broker_url, rabbit_url  # noqa: F401
from tests.integration.conftest import WorkerFactory, WorkerProcess, terminal_view, wait_for
from workers.runtime import Runtime

pytestmark = pytest.mark.integration

#: SPEC-level promise: a stopped worker is gone within this many seconds.
STOP_LIMIT_S = 30.0

#: A SIGKILLed worker's work comes back within seconds (leases, Redis heartbeat).
FAST_RECOVERY = {
    "CHECKS_LEASE_SECONDS": "3",
    "CHECKS_REDIS_HEARTBEAT_MS": "2000",
    "CHECKS_REDIS_MAINTENANCE_CHANCE": "1000000",
    "CHECKS_RETRY_MIN_BACKOFF_MS": "200",
    "CHECKS_RETRY_MAX_BACKOFF_MS": "1000",
    "CHECKS_MAX_RETRIES": "20",
}


def _stop(worker: WorkerProcess, target: str) -> float:
    """SIGTERM to the process group or the parent PID; seconds until the whole group is gone."""
    started = time.monotonic()
    if target == "group":
        os.killpg(worker.pgid, signal.SIGTERM)
    else:
        os.kill(worker.proc.pid, signal.SIGTERM)
    deadline = started + STOP_LIMIT_S + 15
    while time.monotonic() < deadline:
        try:
            os.killpg(worker.pgid, 0)
        except ProcessLookupError:
            break
        worker.proc.poll()
        time.sleep(0.05)
    return time.monotonic() - started


def _decided(rt: Runtime, check_id: str, worker: WorkerProcess, timeout: float = 60) -> Any:
    view = wait_for(
        f"check {check_id} to end",
        terminal_view(rt, check_id),
        timeout=timeout,
        diagnostics=worker.diagnostics,
    )
    assert view["status"] == "decided", f"{view}{worker.diagnostics()}"
    return view


@pytest.mark.parametrize("target", ["group", "parent"])
def test_an_idle_worker_stops_within_30_s_of_sigterm(
    pg_url: str,
    broker_url: str,  # noqa: F811
    broker_runtime: Runtime,  # noqa: F811
    worker_process: WorkerFactory,
    target: str,
) -> None:
    # Given a worker that has decided one check and is now idle
    worker = worker_process(pg_url, CHECKS_BROKER_URL=broker_url)
    _decided(broker_runtime, broker_runtime.service.submit(request_for("alice")).check_id, worker)
    # When it is sent SIGTERM
    took = _stop(worker, target)
    # Then every process of it is gone well within the limit, having stopped cleanly
    assert took < STOP_LIMIT_S, f"still running {took:.1f}s after SIGTERM{worker.diagnostics()}"
    assert worker.proc.returncode == 0, worker.diagnostics()


def test_after_a_kill_and_restart_the_new_worker_stops_within_30_s_of_sigterm(
    pg_url: str,
    broker_url: str,  # noqa: F811
    broker_runtime: Runtime,  # noqa: F811
    worker_process: WorkerFactory,
) -> None:
    # Given 40 checks at 1 s agency latency, and the worker SIGKILLed while they run (a fixed
    # sleep is not enough: a fast worker can decide all 40 first, and the new worker would then
    # be stopped while it is still starting, which tests nothing)
    env = dict(FAST_RECOVERY, CHECKS_BROKER_URL=broker_url, CHECKS_SANDBOX_LATENCY_MS="1000")
    first = worker_process(pg_url, name="killed", **env)
    ids = [broker_runtime.service.submit(request_for("alice")).check_id for _ in range(40)]
    wait_for(
        "a check to be running on the first worker",
        lambda: any(broker_runtime.store.view(cid)["status"] == "running" for cid in ids),
        timeout=60,
        diagnostics=first.diagnostics,
    )
    first.kill()
    unfinished = [cid for cid in ids if terminal_view(broker_runtime, cid)() is None]
    assert unfinished, "every check ended before the kill: the test would test nothing"
    # ... and a new worker started, which decides every check
    second = worker_process(pg_url, name="restarted", **env)
    for cid in ids:
        _decided(broker_runtime, cid, second, timeout=90)
    # When the new worker's process group is sent SIGTERM
    took = _stop(second, "group")
    # Then it is gone within the limit
    assert took < STOP_LIMIT_S, f"still running {took:.1f}s after SIGTERM{second.diagnostics()}"
    assert second.proc.returncode == 0, second.diagnostics()


def test_a_check_in_flight_at_sigterm_is_released_and_finished_by_the_next_worker(
    pg_url: str,
    broker_url: str,  # noqa: F811
    broker_runtime: Runtime,  # noqa: F811
    worker_process: WorkerFactory,
) -> None:
    store = broker_runtime.store
    # Given a worker for which Cifas takes 20 s, running a check
    env = dict(FAST_RECOVERY, CHECKS_BROKER_URL=broker_url)
    slow = worker_process(pg_url, name="slow", CHECKS_SANDBOX_LATENCY_MS="cifas=20000", **env)
    cid = broker_runtime.service.submit(request_for("alice")).check_id
    wait_for(
        "the check to be running with Experian answered",
        lambda: [s["status"] for s in store.view(cid)["steps"]] == ["completed", "running"],
        timeout=30,
        diagnostics=slow.diagnostics,
    )
    # When its process group is sent SIGTERM
    took = _stop(slow, "group")
    # Then it stops at once rather than waiting for Cifas, and gives up the check's lease
    assert took < STOP_LIMIT_S, f"still running {took:.1f}s after SIGTERM{slow.diagnostics()}"
    with store.session() as s:
        status, owner = s.execute(
            select(Check.status, Check.lease_owner).where(Check.id == cid)
        ).one()
    assert status == "running" and owner is None, slow.diagnostics()
    # ... and the next worker finishes it, Cifas under the same ledger row
    before = {f["agency"]: f for f in store.view(cid)["footprints"]}
    assert before["cifas"]["state"] == "unknown"
    rescuer = worker_process(pg_url, name="rescuer", **env)
    view = _decided(broker_runtime, cid, rescuer)
    after = {f["agency"]: f for f in view["footprints"]}
    assert sorted(after) == ["cifas", "experian"]
    assert after["cifas"]["client_ref"] == before["cifas"]["client_ref"]
    assert all(f["state"] == "confirmed" for f in after.values())
