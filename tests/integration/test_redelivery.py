"""A worker killed after an agency answered, before the message was acked: redelivery finishes
the check without a second footprint (SPEC invariants 1 and 2)."""

from __future__ import annotations

import pytest

from tests.helpers import request_for
from tests.integration.conftest import WorkerFactory, terminal_view, wait_for
from workers.runtime import Runtime

pytestmark = pytest.mark.integration

#: Redelivery by Dramatiq only: a dead worker's heartbeat lapses after 2 s and every command of
#: a live worker runs maintenance; leases lapse after 3 s; the reconciler stays out of it.
REDELIVERY_ENV = {
    "CHECKS_LEASE_SECONDS": "3",
    "CHECKS_REDIS_HEARTBEAT_MS": "2000",
    "CHECKS_REDIS_MAINTENANCE_CHANCE": "1000000",
    "CHECKS_RECONCILE_EVERY_SECONDS": "3600",
    "CHECKS_STALE_AFTER_SECONDS": "3600",
    "CHECKS_RETRY_MIN_BACKOFF_MS": "200",
    "CHECKS_RETRY_MAX_BACKOFF_MS": "1000",
    "CHECKS_MAX_RETRIES": "20",
}


def test_a_worker_killed_mid_check_is_replaced_by_redelivery_without_a_second_footprint(
    pg_url: str, redis_runtime: Runtime, worker_process: WorkerFactory
) -> None:
    store = redis_runtime.store
    # Given a worker for which Experian answers at once and Cifas takes four seconds
    first = worker_process(
        pg_url, name="doomed", CHECKS_SANDBOX_LATENCY_MS="cifas=4000", **REDELIVERY_ENV
    )
    sub = redis_runtime.service.submit(request_for("alice"))
    # When Experian's answer (and footprint) is recorded while Cifas is still in the air
    wait_for(
        "the experian footprint to be confirmed",
        lambda: (
            [
                f["agency"]
                for f in store.view(sub.check_id)["footprints"]
                if f["state"] == "confirmed"
            ]
            == ["experian"]
        ),
        timeout=30,
        interval=0.05,
        diagnostics=first.diagnostics,
    )
    # ... and the worker is SIGKILLed, process group and all, before it acks the message
    first.kill()
    assert not first.alive()
    view = store.view(sub.check_id)
    assert view["status"] == "running", view
    steps = {s["agency"]: s for s in view["steps"]}
    assert steps["experian"]["status"] == "completed" and steps["experian"]["attempts"] == 1
    assert steps["cifas"]["status"] == "running", "cifas must have been in the air"
    # ... and the ledger shows both searches: Experian confirmed, Cifas possibly made (unknown)
    assert sorted((f["agency"], f["state"]) for f in view["footprints"]) == [
        ("cifas", "unknown"),
        ("experian", "confirmed"),
    ]
    # Then a fresh worker gets the unacked message back from Redis and finishes the check
    second = worker_process(pg_url, name="rescuer", **REDELIVERY_ENV)
    view = wait_for(
        f"check {sub.check_id} to be decided after redelivery",
        terminal_view(redis_runtime, sub.check_id),
        timeout=60,
        interval=0.2,
        diagnostics=lambda: first.diagnostics() + second.diagnostics(),
    )
    context = f"{view}{second.diagnostics()}"
    assert view["status"] == "decided" and view["decision"] == "accept", context
    # ... with exactly one footprint per search in the ledger
    assert store.footprint_count(sub.check_id) == 2, context
    assert sorted(f["agency"] for f in view["footprints"]) == ["cifas", "experian"], context
    assert all(f["state"] == "confirmed" for f in view["footprints"]), context
    steps = {s["agency"]: s for s in view["steps"]}
    refs = {f["agency"]: f["client_ref"] for f in view["footprints"]}
    # ... Experian reused (searched once), Cifas retried under its original client reference
    assert steps["experian"]["attempts"] == 1, context
    assert steps["experian"]["client_ref"] == refs["experian"]
    assert steps["cifas"]["client_ref"] == refs["cifas"]
    assert steps["cifas"]["attempts"] == 2, context
    actions = [e["action"] for e in view["timeline"]]
    assert "resumed" in actions, actions
    # ... recovered by Dramatiq's redelivery, not by the reconciler
    assert "requeued" not in actions, actions
    rescuer_log = second.stderr.read_text(errors="replace")
    assert not [
        line for line in rescuer_log.splitlines() if "step.completed" in line and "experian" in line
    ], rescuer_log[-3000:]
