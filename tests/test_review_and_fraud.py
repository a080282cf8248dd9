"""Human review and fraud filing on the StubBroker with a real Worker and the sandbox."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any, cast

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import select

from agencies.sandbox import Fault
from checks.filing_store import FilingBusy
from checks.models import SubjectFlag
from checks.review import ReviewConflict, ReviewRefused
from checks.review_service import FraudService
from checks.store import _add_years
from tests.helpers import request_for
from workers.broker import CHECKS_QUEUE, HOUSEKEEPING_QUEUE
from workers.runtime import Runtime

OUTCOMES_QUEUE = "review_test_outcomes"
received: list[dict[str, Any]] = []


def _declare_outcome_actor(broker: dramatiq.Broker) -> None:
    """An order flow's actor that records every outcome it is sent."""
    if "review_test_outcome" in broker.actors:
        return

    def review_test_outcome(outcome: dict[str, Any]) -> None:
        received.append(outcome)

    dramatiq.actor(broker=broker, queue_name=OUTCOMES_QUEUE)(review_test_outcome)


def _drain(any_broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
    broker = cast(StubBroker, any_broker)
    for _ in range(3):  # runs enqueue notifications, filings enqueue retries
        broker.join(CHECKS_QUEUE, timeout=20_000, fail_fast=False)
        broker.join(HOUSEKEEPING_QUEUE, timeout=20_000, fail_fast=False)
        if OUTCOMES_QUEUE in broker.queues:
            broker.join(OUTCOMES_QUEUE, timeout=20_000, fail_fast=False)
    worker.join()


def _decided(
    rt: Runtime, broker: dramatiq.Broker, worker: dramatiq.Worker, persona: str, **overrides: Any
) -> str:
    notify = overrides.get("notify") or {}
    if "actor" in notify:  # the requester's actor is configured (CHECKS_NOTIFY_ALLOWED_ACTORS)
        allowed = rt.settings.model_copy(update={"notify_allowed_actors": (notify["actor"],)})
        rt.settings = rt.store.settings = allowed
    check_id = rt.service.submit(request_for(persona, **overrides)).check_id
    _drain(broker, worker)
    assert rt.service.get(check_id)["status"] == "decided"
    return check_id


def _file_calls(rt: Runtime) -> list[Any]:
    sandbox = rt.agencies.sandbox
    assert sandbox is not None
    return sandbox.calls_to("cifas", "file")


# -- contest and human decision --------------------------------------------------------------


def test_carol_contests_her_automated_decline_and_a_reviewer_accepts(
    runtime: Runtime,
    stub_broker: dramatiq.Broker,
    worker: dramatiq.Worker,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # Given Carol, declined automatically, whose order flow asked to be told the outcome
    _declare_outcome_actor(stub_broker)
    received.clear()
    notify = {"actor": f"{OUTCOMES_QUEUE}:review_test_outcome"}
    check_id = _decided(runtime, stub_broker, worker, "carol", notify=notify)
    first = runtime.service.get(check_id)
    assert first["decision"] == "decline" and first["automated"] is True
    assert "contest" in first["how_to_contest"]
    secret = "My judgments were paid in full in 2021 at Leeds County Court"
    # When she contests with her representations and a reviewer accepts
    runtime.reviews.request(check_id, secret)
    assert runtime.service.get(check_id)["review"]["status"] == "open"
    runtime.reviews.decide(check_id, "accept", "Rita Reviewer", "Judgments satisfied")
    _drain(stub_broker, worker)
    # Then show gives accept, decided by a person, with both decisions in the timeline
    view = runtime.service.get(check_id)
    assert view["decision"] == "accept" and view["automated"] is False
    assert view["how_to_contest"] is None
    review = view["review"]
    assert review["status"] == "decided" and review["reviewer"] == "Rita Reviewer"
    assert review["representations"] == secret
    assert review["requested_at"] and review["decided_at"]
    actions = {e["action"]: e for e in view["timeline"]}
    assert actions["decided"]["detail"]["decision"] == "decline"
    assert actions["decided"]["detail"]["reasons"]  # the automated reasons stay
    assert actions["review_decided"]["actor"] == "Rita Reviewer"
    assert actions["review_decided"]["detail"]["previous_decision"] == "decline"
    assert actions["review_requested"]["detail"]["representations"] == "provided"
    assert view["reasons"][0]["code"] == "HUMAN_REVIEW"
    assert {"INSOLVENCY", "CCJS"} <= {r["code"] for r in view["reasons"]}
    # and the requester got two notifications: the automated decline, then the accept
    assert [(n["decision"], n["automated"]) for n in received] == [
        ("decline", True),
        ("accept", False),
    ]
    assert received[0]["how_to_contest"] and received[1]["how_to_contest"] is None
    # and the representations' text is in no log line and no audit event
    logs = capfd.readouterr()
    assert "Leeds County Court" not in logs.out + logs.err
    assert "Leeds County Court" not in str(view["timeline"])


def test_a_second_reviewer_deciding_with_what_they_saw_before_the_first_gets_a_conflict(
    runtime: Runtime, stub_broker: dramatiq.Broker, worker: dramatiq.Worker
) -> None:
    check_id = _decided(runtime, stub_broker, worker, "carol")
    runtime.reviews.request(check_id, "please look again")
    seen = runtime.service.get(check_id)["version"]
    # Both reviewers opened the check at version `seen`; the first decision wins
    runtime.reviews.decide(check_id, "accept", "Rita", "ok", expected_version=seen)
    with pytest.raises(ReviewConflict, match="changed by someone else"):
        runtime.reviews.decide(check_id, "decline", "Sam", "no", expected_version=seen)
    assert runtime.service.get(check_id)["decision"] == "accept"
    assert runtime.service.get(check_id)["review"]["reviewer"] == "Rita"


def test_two_reviewers_deciding_at_once_one_wins_and_the_other_gets_a_clear_error(
    runtime: Runtime, stub_broker: dramatiq.Broker, worker: dramatiq.Worker
) -> None:
    check_id = _decided(runtime, stub_broker, worker, "carol")
    runtime.reviews.request(check_id, "please look again")
    start = threading.Barrier(4)
    outcomes: list[str] = []

    def decide(name: str, decision: str) -> None:
        start.wait()
        try:
            runtime.reviews.decide(check_id, decision, name, "decided")
            outcomes.append("won")
        except ReviewRefused as exc:
            outcomes.append(exc.code)

    threads = [
        threading.Thread(target=decide, args=(f"reviewer-{i}", d))
        for i, d in enumerate(["accept", "decline", "refer", "accept"])
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("won") == 1
    assert set(outcomes) - {"won"} <= {"conflict", "already_reviewed"}
    decided = [
        e for e in runtime.service.get(check_id)["timeline"] if e["action"] == "review_decided"
    ]
    assert len(decided) == 1


def test_a_contest_needs_an_automated_decision_and_only_one_is_open_at_a_time(
    runtime: Runtime, stub_broker: dramatiq.Broker, worker: dramatiq.Worker
) -> None:
    check_id = _decided(runtime, stub_broker, worker, "carol")
    runtime.reviews.request(check_id, "first")
    with pytest.raises(ReviewRefused) as twice:
        runtime.reviews.request(check_id, "second")
    assert twice.value.code == "review_open"
    runtime.reviews.decide(check_id, "refer", "Rita", "needs documents")
    with pytest.raises(ReviewRefused) as human:
        runtime.reviews.request(check_id, "again")
    assert human.value.code == "not_automated"


def test_a_referral_waits_in_the_queue_with_a_due_date_until_a_person_decides(
    runtime: Runtime, stub_broker: dramatiq.Broker, worker: dramatiq.Worker
) -> None:
    check_id = _decided(runtime, stub_broker, worker, "bob")  # thin file: referred
    (item,) = [i for i in runtime.reviews.queue("open") if i["check_id"] == check_id]
    view = runtime.service.get(check_id)
    assert item["kind"] == "referral" and item["status"] == "open"
    assert (
        item["due_at"]
        == (
            _parse(view["finished_at"]) + timedelta(hours=runtime.settings.review_sla_hours)
        ).isoformat()
    )
    runtime.reviews.decide(check_id, "accept", "Rita", "identity seen in branch")
    assert all(i["check_id"] != check_id for i in runtime.reviews.queue("open"))
    (closed,) = [i for i in runtime.reviews.queue("closed") if i["check_id"] == check_id]
    assert closed["kind"] == "referral" and closed["status"] == "decided"


def test_a_reviewer_cannot_review_a_check_they_proposed_a_fraud_case_on(
    runtime: Runtime, stub_broker: dramatiq.Broker, worker: dramatiq.Worker
) -> None:
    check_id = _decided(runtime, stub_broker, worker, "bob")
    runtime.fraud.propose(check_id, "false_application", "payslips altered", "Pat")
    with pytest.raises(ReviewRefused) as own:
        runtime.reviews.decide(check_id, "decline", "pat", "fraud")
    assert own.value.code == "own_proposal"
    runtime.reviews.decide(check_id, "decline", "Rita", "fraud")


# -- fraud filing ----------------------------------------------------------------------------


def test_a_case_confirmed_by_a_second_person_is_filed_once_and_flags_the_subject(
    runtime: Runtime, stub_broker: dramatiq.Broker, worker: dramatiq.Worker
) -> None:
    check_id = _decided(runtime, stub_broker, worker, "alice")
    proposed = runtime.fraud.propose(check_id, "Identity Fraud", "passport forged", "Pat")
    assert proposed.status == "proposed"
    # The proposer cannot confirm their own case
    with pytest.raises(ReviewRefused) as same:
        runtime.fraud.confirm(proposed.case_id, " PAT ")
    assert same.value.code == "same_person"
    assert runtime.service.get(check_id)["decision"] == "accept"
    # A second person confirms it
    runtime.fraud.confirm(proposed.case_id, "Quinn")
    _drain(stub_broker, worker)
    case = runtime.fraud.case(proposed.case_id)
    assert case.status == "confirmed" and case.filing_status == "filed"
    assert case.cifas_reference and case.cifas_reference.startswith("CIF")
    (call,) = _file_calls(runtime)
    assert call.status == 201 and call.persona == "alice"
    view = runtime.service.get(check_id)
    assert view["decision"] == "decline" and view["automated"] is False
    assert view["flagged"] is True
    assert case.confirmed_at is not None
    assert view["retention_until"] == _add_years(case.confirmed_at, 6).isoformat()
    assert view["fraud_cases"][0]["filing"]["cifas_reference"] == case.cifas_reference
    with runtime.store.session() as s:
        flag = s.scalars(select(SubjectFlag).where(SubjectFlag.check_id == check_id)).one()
    assert flag.source == "confirmed_case" and flag.flagged_at == case.confirmed_at
    actors = {e["action"]: e["actor"] for e in view["timeline"]}
    assert actors["fraud_proposed"] == "Pat" and actors["fraud_confirmed"] == "Quinn"
    assert actors["fraud_filed"] == "worker"
    # A duplicate delivery of the filing job files nothing more
    runtime.fraud.dispatcher.send_file_case(proposed.case_id)
    _drain(stub_broker, worker)
    assert len(_file_calls(runtime)) == 1


def test_cifas_down_during_filing_is_retried_then_filed_with_the_flag_from_confirmation(
    runtime: Runtime, stub_broker: dramatiq.Broker, worker: dramatiq.Worker
) -> None:
    check_id = _decided(runtime, stub_broker, worker, "alice")
    sandbox = runtime.agencies.sandbox
    assert sandbox is not None
    case_id = runtime.fraud.propose(check_id, "facility_takeover", "SIM swap", "Pat").case_id
    sandbox.set_faults("cifas=http503")
    runtime.fraud.confirm(case_id, "Quinn")
    _drain(stub_broker, worker)  # every retry of the job finds Cifas down
    down = runtime.fraud.case(case_id)
    assert down.filing_status == "retrying" and down.filing_attempts >= 2
    assert down.filing_error and "cifas" in down.filing_error
    assert [c.status for c in _file_calls(runtime)] == [503] * len(_file_calls(runtime))
    # Cifas is back: the reconciler re-sends the unfiled case and it is filed once
    sandbox.set_faults(None)
    assert runtime.fraud.resend_stale_filings(timedelta(0)) == [case_id]
    _drain(stub_broker, worker)
    filed = runtime.fraud.case(case_id)
    assert filed.filing_status == "filed" and filed.filing_error is None
    assert [c.status for c in _file_calls(runtime)].count(201) == 1
    # The flag and the six-year retention run from the confirmation, not the filing
    assert filed.confirmed_at is not None and filed.filed_at is not None
    view = runtime.service.get(check_id)
    assert view["flagged_at"] == filed.confirmed_at.isoformat()
    assert view["retention_until"] == _add_years(filed.confirmed_at, 6).isoformat()


class _LostMessages:
    """A dispatcher whose sends are lost, as if the process died right after committing."""

    def send_notify(self, check_id: str) -> None:
        """Lost."""

    def send_file_case(self, case_id: str) -> None:
        """Lost."""


def test_a_worker_killed_between_confirmation_and_filing_still_files_exactly_once(
    runtime: Runtime, stub_broker: dramatiq.Broker, worker: dramatiq.Worker
) -> None:
    check_id = _decided(runtime, stub_broker, worker, "alice")
    # Confirmed by a process whose filing message never left it
    crashed = FraudService(runtime.store, _LostMessages())
    case_id = crashed.propose(check_id, "misuse_of_facility", "resold handsets", "Pat").case_id
    crashed.confirm(case_id, "Quinn")
    # ...and a worker that took the job and was killed before it reached Cifas
    assert crashed.cases.claim_filing(case_id, "killed-worker", lease_seconds=3) is not None
    assert runtime.fraud.resend_stale_filings(timedelta(0)) == []  # its lease is still live
    threading.Event().wait(3.1)
    # The reconciler re-sends it once the lease has lapsed; a second reconciler finds nothing
    assert runtime.fraud.resend_stale_filings(timedelta(0)) == [case_id]
    assert runtime.fraud.resend_stale_filings(timedelta(seconds=60)) == []
    _drain(stub_broker, worker)
    assert runtime.fraud.case(case_id).filing_status == "filed"
    assert len(_file_calls(runtime)) == 1


def test_a_rejected_filing_is_shown_with_its_reason_and_not_retried(
    runtime: Runtime, stub_broker: dramatiq.Broker, worker: dramatiq.Worker
) -> None:
    check_id = _decided(runtime, stub_broker, worker, "alice")
    sandbox = runtime.agencies.sandbox
    assert sandbox is not None
    sandbox.set_faults({"cifas": [Fault("http400")]})
    case_id = runtime.fraud.propose(check_id, "asset_conversion", "sold goods", "Pat").case_id
    runtime.fraud.confirm(case_id, "Quinn")
    _drain(stub_broker, worker)
    case = runtime.fraud.case(case_id)
    assert case.filing_status == "rejected" and case.filing_attempts == 1
    assert case.filing_error and "could not be read" in case.filing_error
    shown = runtime.service.get(check_id)["fraud_cases"][0]["filing"]
    assert shown["status"] == "rejected" and shown["error"] == case.filing_error
    assert runtime.fraud.resend_stale_filings(timedelta(0)) == []


def test_a_withdrawn_proposal_is_never_confirmed_filed_or_flagged(
    runtime: Runtime, stub_broker: dramatiq.Broker, worker: dramatiq.Worker
) -> None:
    check_id = _decided(runtime, stub_broker, worker, "alice")
    case_id = runtime.fraud.propose(check_id, "identity_fraud", "hunch", "Pat").case_id
    assert any(i["case_id"] == case_id for i in runtime.reviews.queue("open"))
    assert runtime.fraud.withdraw(case_id, "Pat").status == "withdrawn"
    with pytest.raises(ReviewRefused) as late:
        runtime.fraud.confirm(case_id, "Quinn")
    assert late.value.code == "not_proposed"
    _drain(stub_broker, worker)
    view = runtime.service.get(check_id)
    assert view["decision"] == "accept" and view["flagged"] is False
    assert _file_calls(runtime) == []
    assert all(i["case_id"] != case_id for i in runtime.reviews.queue("open"))
    assert any(e["action"] == "fraud_withdrawn" for e in view["timeline"])


def _parse(iso: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(iso)


def test_a_worker_whose_filing_lease_lapsed_does_not_overwrite_the_worker_that_took_over(
    runtime: Runtime, stub_broker: dramatiq.Broker, worker: dramatiq.Worker
) -> None:
    check_id = _decided(runtime, stub_broker, worker, "alice")
    quiet = FraudService(runtime.store, _LostMessages())
    case_id = quiet.propose(check_id, "identity_fraud", "forged", "Pat").case_id
    quiet.confirm(case_id, "Quinn")
    slow = quiet.cases.claim_filing(case_id, "slow-worker", lease_seconds=0)
    assert slow is not None
    taken = quiet.cases.claim_filing(case_id, "new-worker", lease_seconds=60)
    assert taken is not None and taken.case.client_ref == slow.case.client_ref
    with pytest.raises(FilingBusy, match="being filed by new-worker"):
        quiet.cases.claim_filing(case_id, "third-worker", lease_seconds=60)
    quiet.cases.filed(taken, "CIF-NEW")
    quiet.cases.rejected(slow, "too late")  # the slow worker's answer arrives last
    case = quiet.case(case_id)
    assert (case.filing_status, case.cifas_reference, case.filing_attempts) == (
        "filed",
        "CIF-NEW",
        2,
    )
    actions = [e["action"] for e in runtime.service.get(check_id)["timeline"]]
    assert actions.count("fraud_filed") == 1 and "fraud_filing_rejected" not in actions
