"""Financial associations end to end on the stub broker with a real worker: links from evidence,
use in decisions, and breaking them with a notice to each CRA."""

from __future__ import annotations

from typing import Any, cast

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import select

from checks.associations import AlreadyBroken, AssociationSource, RequestedBy, SameSubject
from checks.models import AuditEvent
from checks.samples import person_fields
from tests.helpers import request_for
from workers.associations import association_service
from workers.broker import CHECKS_QUEUE, HOUSEKEEPING_QUEUE
from workers.runtime import Runtime


def _drain(broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
    stub = cast(StubBroker, broker)
    for _ in range(3):  # retries and notices enqueue more messages
        stub.join(CHECKS_QUEUE, timeout=30_000, fail_fast=False)
        stub.join(HOUSEKEEPING_QUEUE, timeout=30_000, fail_fast=False)
    worker.join()


def _run(rt: Runtime, broker: dramatiq.Broker, worker: dramatiq.Worker, req: dict[str, Any]) -> Any:
    sub = rt.service.submit(req)
    _drain(broker, worker)
    return rt.service.get(sub.check_id)


def _persona(key: str) -> dict[str, Any]:
    from agencies.sandbox import default_fixtures

    return person_fields(default_fixtures().persona(key))


def _actions(rt: Runtime) -> list[str]:
    with rt.store.session() as s:
        return list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_a_joint_new_order_links_frank_and_grace_and_a_joint_quotation_links_nobody(
    runtime: Runtime, stub_broker: dramatiq.Broker, worker: dramatiq.Worker
) -> None:
    service = association_service(runtime)
    # A joint quotation (soft searches) first: nobody is linked
    quote = _run(runtime, stub_broker, worker, request_for("frank", purpose="quotation"))
    assert quote["status"] == "decided" and quote["associations"] == []
    assert service.associations_of(quote["subject_id"]) == []
    # A joint new order (hard searches) links them
    order = _run(runtime, stub_broker, worker, request_for("frank"))
    (link,) = service.associations_of(order["subject_id"])
    assert link["associate_subject_id"] == order["joint_subject_id"]
    assert (link["source"], link["source_check_id"], link["status"]) == (
        "joint_application",
        order["id"],
        "active",
    )
    assert order["associations"] == [
        {
            "id": link["id"],
            "subject_ids": sorted([order["subject_id"], order["joint_subject_id"]]),
            "source": "joint_application",
            "status": "active",
            "created": True,
            "used": False,
        }
    ]
    # Grace sees the same one association from her side
    (hers,) = service.associations_of(order["joint_subject_id"])
    assert hers["id"] == link["id"] and hers["associate_subject_id"] == order["subject_id"]


def test_the_same_pair_linked_by_three_checks_is_one_association_with_three_pieces_of_evidence(
    runtime: Runtime, stub_broker: dramatiq.Broker, worker: dramatiq.Worker
) -> None:
    service = association_service(runtime)
    views = [_run(runtime, stub_broker, worker, request_for("frank")) for _ in range(2)]
    declared = _run(
        runtime,
        stub_broker,
        worker,
        request_for("frank", joint_applicant=None, financial_associates=[_persona("grace")]),
    )
    (link,) = service.associations_of(declared["subject_id"])
    assert link["source"] == "joint_application" and link["source_check_id"] == views[0]["id"]
    assert [(e["source"], e["check_id"]) for e in link["evidence"]] == [
        ("joint_application", views[0]["id"]),
        ("joint_application", views[1]["id"]),
        ("declared", declared["id"]),
    ]


def test_franks_declared_associate_is_linked_as_declared(
    runtime: Runtime, stub_broker: dramatiq.Broker, worker: dramatiq.Worker
) -> None:
    view = _run(
        runtime,
        stub_broker,
        worker,
        request_for("frank", joint_applicant=None, financial_associates=[_persona("alice")]),
    )
    (link,) = association_service(runtime).associations_of(view["subject_id"])
    assert (link["source"], link["source_check_id"], link["status"]) == (
        "declared",
        view["id"],
        "active",
    )
    # ...and the declared associate travelled to Experian in its request
    sandbox = runtime.agencies.sandbox
    assert sandbox is not None
    (call,) = [c for c in sandbox.router.calls if c.request.url.path.endswith("/application")]
    assert b"financialAssociates" in call.request.content


def test_an_associates_insolvency_refers_frank_until_the_association_is_broken(
    runtime: Runtime, stub_broker: dramatiq.Broker, worker: dramatiq.Worker
) -> None:
    service = association_service(runtime)
    joint = _run(runtime, stub_broker, worker, request_for("frank"))
    (link,) = service.associations_of(joint["subject_id"])
    # A later single application of Frank: Grace's insolvency refers it, naming the association
    single = _run(runtime, stub_broker, worker, request_for("frank", joint_applicant=None))
    assert single["decision"] == "refer"
    (reason,) = single["reasons"]
    assert reason["code"] == "ASSOCIATE_INSOLVENCY"
    assert f"association {link['id']}" in reason["text"] and "Grace" not in reason["text"]
    assert [(a["id"], a["used"]) for a in single["associations"]] == [(link["id"], True)]
    # When the association is broken, the same application is accepted
    broken = service.break_association(link["id"], RequestedBy.SUBJECT, "separated")
    assert broken["status"] == "breaking"
    again = _run(runtime, stub_broker, worker, request_for("frank", joint_applicant=None))
    assert again["decision"] == "accept" and again["associations"] == []


def test_the_steps_read_says_whether_the_applicant_has_an_active_association(
    runtime: Runtime, stub_broker: dramatiq.Broker, worker: dramatiq.Worker
) -> None:
    # (A decision looks for associates' results only when this says there are associations.)
    alice = _run(runtime, stub_broker, worker, request_for("alice"))
    assert runtime.store.outcomes(alice["id"]).has_associations is False
    joint = _run(runtime, stub_broker, worker, request_for("frank"))
    assert runtime.store.outcomes(joint["id"]).has_associations is True
    (link,) = association_service(runtime).associations_of(joint["subject_id"])
    association_service(runtime).break_association(link["id"], RequestedBy.SUBJECT, "separated")
    assert runtime.store.outcomes(joint["id"]).has_associations is False


def test_an_old_associate_result_is_not_used(
    runtime: Runtime, stub_broker: dramatiq.Broker, worker: dramatiq.Worker
) -> None:
    _run(runtime, stub_broker, worker, request_for("frank"))
    runtime.store.settings = runtime.store.settings.model_copy(
        update={"associate_result_max_age_days": 0}
    )
    single = _run(runtime, stub_broker, worker, request_for("frank", joint_applicant=None))
    assert single["decision"] == "accept"


def test_breaking_sends_one_notice_to_each_cra_and_a_refusal_leaves_it_breaking(
    runtime: Runtime, stub_broker: dramatiq.Broker, worker: dramatiq.Worker
) -> None:
    service = association_service(runtime)
    sandbox = runtime.agencies.sandbox
    assert sandbox is not None
    joint = _run(runtime, stub_broker, worker, request_for("frank"))
    (link,) = service.associations_of(joint["subject_id"])
    # When the association is broken
    view = service.break_association(link["id"], RequestedBy.OPERATOR, "customer asked")
    assert view["status"] == "breaking" and view["break_requested_by"] == "operator"
    assert {n["status"] for n in view["notices"]} == {"queued"}
    _drain(stub_broker, worker)
    # Then each CRA got exactly one notice, in its log
    for cra in ("experian", "equifax", "callcredit"):
        assert len(sandbox.notices(cra)) == 1, cra
    assert not sandbox.notices("cifas") and not sandbox.notices("imrg")
    # Callcredit refused (a joint account is still open): it stays breaking, refusal shown
    (after,) = service.associations_of(joint["subject_id"])
    notices = {n["agency"]: n["status"] for n in after["notices"]}
    assert notices == {"callcredit": "refused", "equifax": "accepted", "experian": "accepted"}
    assert after["status"] == "breaking"
    actions = _actions(runtime)
    assert "disassociation_recorded" in actions and "disassociation_refused" in actions
    assert "association_broken" not in actions


def test_when_every_cra_accepts_the_association_is_broken_even_after_a_pending_answer(
    runtime: Runtime, stub_broker: dramatiq.Broker, worker: dramatiq.Worker
) -> None:
    service = association_service(runtime)
    sandbox = runtime.agencies.sandbox
    assert sandbox is not None
    view = _run(
        runtime,
        stub_broker,
        worker,
        request_for("alice", financial_associates=[_persona("bob")]),
    )
    (link,) = service.associations_of(view["subject_id"])
    service.break_association(link["id"], RequestedBy.SUBJECT, "never linked")
    _drain(stub_broker, worker)
    (after,) = service.associations_of(view["subject_id"])
    assert after["status"] == "broken" and after["broken_at"]
    assert {n["status"] for n in after["notices"]} == {"accepted"}
    # Equifax answered pending first; asked again with the same reference it confirmed
    answers = [c.answer for c in sandbox.calls_to("equifax", "notice")]
    assert answers == ["pending", "accepted"] and len(sandbox.notices("equifax")) == 1
    assert "association_broken" in _actions(runtime)
    with pytest.raises(AlreadyBroken):
        service.break_association(link["id"], RequestedBy.SUBJECT, "again")


def test_a_cra_that_is_down_gets_its_notice_retried_until_it_answers(
    runtime: Runtime, stub_broker: dramatiq.Broker, worker: dramatiq.Worker
) -> None:
    service = association_service(runtime)
    sandbox = runtime.agencies.sandbox
    assert sandbox is not None
    joint = _run(runtime, stub_broker, worker, request_for("frank"))
    (link,) = service.associations_of(joint["subject_id"])
    # Experian answers 503 to its next twelve calls (several Dramatiq attempts' worth)
    sandbox.set_faults("experian=flaky:12")
    service.break_association(link["id"], RequestedBy.SUBJECT, "separated")
    _drain(stub_broker, worker)
    (after,) = service.associations_of(joint["subject_id"])
    experian = next(n for n in after["notices"] if n["agency"] == "experian")
    assert experian["status"] == "accepted"
    assert experian["attempts"] >= 2  # retried by Dramatiq, not only inside one attempt
    failed = [c for c in sandbox.calls_to("experian", "notice") if c.status == 503]
    assert len(failed) == 12 and len(sandbox.notices("experian")) == 1


def test_an_operator_links_two_subjects_with_a_note_and_not_one_person_with_themselves(
    runtime: Runtime, stub_broker: dramatiq.Broker, worker: dramatiq.Worker
) -> None:
    service = association_service(runtime)
    alice = _run(runtime, stub_broker, worker, request_for("alice"))
    bob = _run(runtime, stub_broker, worker, request_for("bob"))
    linked = service.link(
        alice["subject_id"], bob["subject_id"], AssociationSource.OPERATOR, "joint mortgage"
    )
    assert linked["source"] == "operator" and linked["status"] == "active"
    assert linked["evidence"][0]["actor"] == "operator"
    with pytest.raises(SameSubject):
        service.link(alice["subject_id"], alice["subject_id"], AssociationSource.DECLARED, "x")
    with pytest.raises(ValueError, match="declared or operator"):
        service.link(
            alice["subject_id"], bob["subject_id"], AssociationSource.JOINT_APPLICATION, "x"
        )


class _LosingDispatcher:
    """A broker that loses every notice message."""

    def send_notice(self, notice_id: int) -> None:
        pass


def test_a_notice_whose_message_was_lost_is_requeued_by_the_reconciler(
    runtime: Runtime, stub_broker: dramatiq.Broker, worker: dramatiq.Worker
) -> None:
    from datetime import timedelta

    from checks.association_service import AssociationService

    joint = _run(runtime, stub_broker, worker, request_for("frank"))
    (link,) = association_service(runtime).associations_of(joint["subject_id"])
    losing = AssociationService(runtime.store, _LosingDispatcher(), runtime.agencies.adapters)
    losing.break_association(link["id"], RequestedBy.SUBJECT, "separated")
    _drain(stub_broker, worker)
    (stuck,) = association_service(runtime).associations_of(joint["subject_id"])
    assert {n["status"] for n in stuck["notices"]} == {"queued"}
    # Not yet stale: nothing is re-queued
    assert association_service(runtime).resend_stale(timedelta(hours=1)) == []
    requeued = association_service(runtime).resend_stale(timedelta(0))
    assert len(requeued) == 3
    _drain(stub_broker, worker)
    (after,) = association_service(runtime).associations_of(joint["subject_id"])
    assert {n["agency"]: n["status"] for n in after["notices"]} == {
        "callcredit": "refused",
        "equifax": "accepted",
        "experian": "accepted",
    }
    # Answered notices are never re-queued
    assert association_service(runtime).resend_stale(timedelta(0)) == []


def test_a_notice_for_someone_whose_identity_is_no_longer_held_stops_and_is_not_requeued(
    runtime: Runtime, stub_broker: dramatiq.Broker, worker: dramatiq.Worker
) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from checks.models import Subject

    service = association_service(runtime)
    joint = _run(runtime, stub_broker, worker, request_for("frank"))
    (link,) = service.associations_of(joint["subject_id"])
    with runtime.store.session() as s:  # Grace's personal data was purged
        s.execute(update(Subject).where(Subject.id == joint["joint_subject_id"]).values(pii=None))
    service.break_association(link["id"], RequestedBy.SUBJECT, "separated")
    _drain(stub_broker, worker)
    (after,) = service.associations_of(joint["subject_id"])
    assert after["status"] == "breaking"
    assert all(n["status"] == "queued" and "no identity" in n["detail"] for n in after["notices"])
    assert service.resend_stale(timedelta(0)) == []
    assert "notice_failed" in _actions(runtime)
