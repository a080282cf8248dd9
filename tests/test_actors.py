"""The run_check actor on Dramatiq's StubBroker with a real Worker: retries, reruns, notify."""

from __future__ import annotations

import dramatiq
import pytest

from checks.errors import IdempotencyConflict
from tests.helpers import request_for
from workers.broker import CHECKS_QUEUE, HOUSEKEEPING_QUEUE
from workers.runtime import Runtime


def _drain(broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
    for _ in range(3):  # retries and notifications enqueue more messages
        broker.join(CHECKS_QUEUE, timeout=20_000, fail_fast=False)
        broker.join(HOUSEKEEPING_QUEUE, timeout=20_000, fail_fast=False)
    worker.join()


def test_submitting_the_same_idempotency_key_twice_gives_one_check_and_one_set_of_footprints(
    runtime: Runtime, stub_broker: dramatiq.Broker, worker: dramatiq.Worker
) -> None:
    # Given a request
    request = request_for("alice")
    # When it is submitted twice, before and after it ran
    first = runtime.service.submit(request)
    _drain(stub_broker, worker)
    second = runtime.service.submit(request)
    _drain(stub_broker, worker)
    # Then there is one check, decided once, with one footprint per search
    assert second.check_id == first.check_id and first.created and not second.created
    view = runtime.service.get(first.check_id)
    assert view["status"] == "decided" and view["decision"] == "accept"
    assert sorted(f["agency"] for f in view["footprints"]) == ["cifas", "experian"]
    assert runtime.store.footprint_count() == 2
    sandbox = runtime.agencies.sandbox
    assert sandbox is not None and len(sandbox.calls_to("experian", "search")) == 1


def test_a_different_request_under_a_used_idempotency_key_is_refused(runtime: Runtime) -> None:
    request = request_for("alice")
    runtime.service.submit(request)
    changed = {**request, "channel": "telephone"}
    with pytest.raises(IdempotencyConflict, match="different request"):
        runtime.service.submit(changed)


def test_a_flaky_agency_is_retried_and_the_check_completes_with_one_footprint(
    runtime: Runtime, stub_broker: dramatiq.Broker, worker: dramatiq.Worker
) -> None:
    sandbox = runtime.agencies.sandbox
    assert sandbox is not None
    sandbox.set_faults("experian=flaky:1")
    sub = runtime.service.submit(request_for("alice"))
    _drain(stub_broker, worker)
    view = runtime.service.get(sub.check_id)
    assert view["status"] == "decided"
    experian = [s for s in view["steps"] if s["agency"] == "experian"]
    assert experian[0]["status"] == "completed"
    assert [f["agency"] for f in view["footprints"]].count("experian") == 1
    assert len(sandbox.footprints("experian")) == 1


def test_an_agency_that_stays_down_fails_the_check_with_a_reason_and_a_rerun_completes_it(
    runtime: Runtime, stub_broker: dramatiq.Broker, worker: dramatiq.Worker
) -> None:
    sandbox = runtime.agencies.sandbox
    assert sandbox is not None
    # Given Cifas is down for longer than every retry
    sandbox.set_faults("cifas=http503")
    sub = runtime.service.submit(request_for("alice"))
    _drain(stub_broker, worker)
    view = runtime.service.get(sub.check_id)
    # Then the check failed with a specific reason, and was never declined
    assert view["status"] == "failed"
    assert view["decision"] is None
    assert "retries exhausted" in view["failure_reason"]
    assert "cifas" in view["failure_reason"] and "503" in view["failure_reason"]
    cifas = next(s for s in view["steps"] if s["agency"] == "cifas")
    assert cifas["status"] == "retrying" and cifas["attempts"] == 3  # max_retries=2 -> 3 runs
    experian_searches = len(sandbox.calls_to("experian", "search"))
    assert experian_searches == 1
    # When Cifas recovers and an operator reruns the check
    sandbox.set_faults(None)
    again = runtime.service.rerun(sub.check_id, actor="operator")
    _drain(stub_broker, worker)
    # Then only Cifas was searched again, and the check is decided with one footprint each
    assert again == ["cifas"]
    view = runtime.service.get(sub.check_id)
    assert view["status"] == "decided" and view["decision"] == "accept"
    assert len(sandbox.calls_to("experian", "search")) == experian_searches
    assert sorted(f["agency"] for f in view["footprints"]) == ["cifas", "experian"]
    actions = [e["action"] for e in view["timeline"]]
    assert "failed" in actions and "rerun" in actions and actions[-1] in ("decided", "notified")


def test_a_rejected_request_fails_the_step_at_once_without_retries(
    runtime: Runtime, stub_broker: dramatiq.Broker, worker: dramatiq.Worker
) -> None:
    sandbox = runtime.agencies.sandbox
    assert sandbox is not None
    sandbox.set_faults("experian=http401")
    sub = runtime.service.submit(request_for("alice"))
    _drain(stub_broker, worker)
    view = runtime.service.get(sub.check_id)
    assert view["status"] == "failed" and view["decision"] is None
    step = next(s for s in view["steps"] if s["agency"] == "experian")
    assert step["status"] == "failed" and step["attempts"] == 1
    assert "credentials rejected" in step["error"]


def test_the_requester_actor_is_sent_the_outcome(
    runtime: Runtime, stub_broker: dramatiq.Broker, worker: dramatiq.Worker
) -> None:
    received: list[dict[str, object]] = []

    @dramatiq.actor(broker=stub_broker, queue_name="orders", actor_name="check_outcome_sink")
    def check_outcome_sink(outcome: dict[str, object]) -> None:
        received.append(outcome)

    # (the requester's actor is configured, as CHECKS_NOTIFY_ALLOWED_ACTORS would do)
    allowed = runtime.settings.model_copy(
        update={"notify_allowed_actors": ("orders:check_outcome_sink",)}
    )
    runtime.settings = runtime.store.settings = allowed
    sub = runtime.service.submit(
        request_for("carol", notify={"actor": "orders:check_outcome_sink"})
    )
    _drain(stub_broker, worker)
    stub_broker.join("orders", timeout=10_000)
    worker.join()
    assert received and received[0]["id"] == sub.check_id
    assert received[0]["decision"] == "decline"
    assert "Adverse" not in str(received[0])  # the outcome carries no personal data
