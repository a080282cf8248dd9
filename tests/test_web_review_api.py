"""The review, fraud and associations endpoints with the real app, the sandbox and a worker.

Given checks decided by the sandbox personas, tokens of each role call the API as a client
would: the review queue, contests, decisions (with the version seen: 409 on a conflict), fraud
proposals confirmed by a different token, and association link / break. Every action is in the
audit trail under the token's name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, cast

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from checks.access import Role
from checks.models import AuditEvent
from checks.tokens import TokenService
from tests.helpers import request_for
from web import create_app
from web.api_review import field_name
from web.settings import WebSettings
from workers.broker import CHECKS_QUEUE, HOUSEKEEPING_QUEUE
from workers.runtime import Runtime

Bearer = Callable[..., dict[str, str]]


@pytest.fixture
def app(runtime: Runtime) -> FastAPI:
    """The app on the test runtime; the test's own worker runs the checks."""
    return create_app(runtime, WebSettings(rate_per_second=1000, rate_burst=2000), run_worker=False)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A client of the app."""
    with TestClient(app) as c:
        yield c


@pytest.fixture
def bearer(runtime: Runtime) -> Bearer:
    """The Authorization header of a token for a role (one token per role and name)."""
    tokens = TokenService(runtime.store)
    issued: dict[str, str] = {}

    def make(role: Role, name: str = "") -> dict[str, str]:
        name = name or f"{role.value}-app"
        if name not in issued:
            issued[name] = tokens.create(name, role, actor="test").token
        return {"Authorization": f"Bearer {issued[name]}"}

    return make


def _drain(broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
    stub = cast(StubBroker, broker)
    for _ in range(2):  # a run queues housekeeping (notices, filings), which may queue more
        stub.join(CHECKS_QUEUE, timeout=20_000, fail_fast=False)
        stub.join(HOUSEKEEPING_QUEUE, timeout=20_000, fail_fast=False)
    worker.join()


def _decided(rt: Runtime, broker: dramatiq.Broker, worker: dramatiq.Worker, persona: str) -> str:
    check_id = rt.service.submit(request_for(persona)).check_id
    _drain(broker, worker)
    assert rt.service.get(check_id)["status"] == "decided"
    return check_id


def _actions_by(rt: Runtime, check_id: str) -> list[tuple[str, str]]:
    return [(e["actor"], e["action"]) for e in rt.service.get(check_id)["timeline"]]


@pytest.fixture
def referral(runtime: Runtime, stub_broker: dramatiq.Broker, worker: dramatiq.Worker) -> str:
    """Bob Thinfile's check: referred (identity not verified)."""
    check_id = _decided(runtime, stub_broker, worker, "bob")
    assert runtime.service.get(check_id)["decision"] == "refer"
    return check_id


def test_the_review_queue_lists_a_referral_for_a_reviewer(
    client: TestClient, bearer: Bearer, referral: str
) -> None:
    r = client.get("/v1/reviews", headers=bearer(Role.REVIEWER))

    assert r.status_code == 200
    rows = {row["check_id"]: row for row in r.json()}
    assert rows[referral]["kind"] == "referral"
    assert rows[referral].keys() >= {"check_id", "kind", "status", "due_at"}


def test_a_submitter_or_operator_cannot_see_the_review_queue(
    client: TestClient, bearer: Bearer
) -> None:
    for role in (Role.SUBMITTER, Role.OPERATOR):
        r = client.get("/v1/reviews", headers=bearer(role))
        assert r.status_code == 403, role
        assert r.headers["content-type"] == "application/problem+json"


def test_a_reviewer_decides_a_referral_as_the_tokens_person(
    client: TestClient, bearer: Bearer, referral: str, runtime: Runtime
) -> None:
    seen = client.get(f"/v1/checks/{referral}", headers=bearer(Role.REVIEWER)).json()

    r = client.post(
        f"/v1/checks/{referral}/decision",
        json={"decision": "accept", "note": "identity seen in store", "version": seen["version"]},
        headers=bearer(Role.REVIEWER),
    )

    assert r.status_code == 200, r.text
    view = runtime.service.get(referral)
    assert (view["decision"], view["automated"]) == ("accept", False)
    assert view["review"]["reviewer"] == "reviewer-app"
    assert ("reviewer-app", "review_decided") in _actions_by(runtime, referral)


def test_a_decision_on_a_version_that_changed_since_is_409(
    client: TestClient, bearer: Bearer, referral: str, runtime: Runtime
) -> None:
    seen = client.get(f"/v1/checks/{referral}", headers=bearer(Role.REVIEWER)).json()["version"]
    first = {"decision": "accept", "note": "first look", "version": seen}
    assert client.post(
        f"/v1/checks/{referral}/decision", json=first, headers=bearer(Role.REVIEWER, "ann")
    ).is_success

    late = {"decision": "decline", "note": "second look", "version": seen}
    r = client.post(
        f"/v1/checks/{referral}/decision", json=late, headers=bearer(Role.REVIEWER, "ben")
    )

    assert r.status_code == 409
    assert r.json()["code"] == "conflict"
    assert runtime.service.get(referral)["decision"] == "accept"


def test_a_submitter_calling_decide_is_403(
    client: TestClient, bearer: Bearer, referral: str
) -> None:
    r = client.post(
        f"/v1/checks/{referral}/decision",
        json={"decision": "accept", "note": "x", "version": 1},
        headers=bearer(Role.SUBMITTER),
    )
    assert r.status_code == 403


def test_a_decide_body_with_bad_fields_is_422_naming_each(
    client: TestClient, bearer: Bearer, referral: str
) -> None:
    r = client.post(
        f"/v1/checks/{referral}/decision",
        json={"decision": "maybe", "note": "x"},
        headers=bearer(Role.REVIEWER),
    )
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert fields == {"body.decision", "body.version"}


def test_a_blank_note_is_422_named_as_the_body_field(
    client: TestClient, bearer: Bearer, referral: str
) -> None:
    r = client.post(
        f"/v1/checks/{referral}/decision",
        json={"decision": "accept", "note": "  ", "version": 1},
        headers=bearer(Role.REVIEWER),
    )
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["note"]


def test_the_submitter_contests_its_own_automated_decline_and_a_reviewer_decides(
    client: TestClient,
    bearer: Bearer,
    runtime: Runtime,
    stub_broker: dramatiq.Broker,
    worker: dramatiq.Worker,
) -> None:
    submitted = client.post(
        "/v1/checks", json=request_for("carol"), headers=bearer(Role.SUBMITTER)
    ).json()["id"]
    _drain(stub_broker, worker)

    r = client.post(
        f"/v1/checks/{submitted}/review",
        json={"representations": "the CCJs were satisfied last year"},
        headers=bearer(Role.SUBMITTER),
    )

    assert r.status_code == 201, r.text
    assert r.json()["status"] == "open"
    queue = client.get("/v1/reviews", headers=bearer(Role.REVIEWER)).json()
    assert {"check_id": submitted, "kind": "contest"}.items() <= next(
        row for row in queue if row["check_id"] == submitted
    ).items()
    assert ("submitter-app", "review_requested") in _actions_by(runtime, submitted)


def test_a_submitter_cannot_contest_another_callers_check(
    client: TestClient, bearer: Bearer, referral: str
) -> None:
    r = client.post(
        f"/v1/checks/{referral}/review",
        json={"representations": "not mine"},
        headers=bearer(Role.SUBMITTER),
    )
    assert r.status_code == 404


def test_contesting_twice_is_a_409_refusal_with_its_code(
    client: TestClient, bearer: Bearer, referral: str
) -> None:
    body = {"representations": "please look again"}
    assert client.post(
        f"/v1/checks/{referral}/review", json=body, headers=bearer(Role.REVIEWER)
    ).is_success
    again = client.post(f"/v1/checks/{referral}/review", json=body, headers=bearer(Role.REVIEWER))
    assert again.status_code == 409
    assert again.json()["code"] == "review_open"


def _propose(client: TestClient, bearer: Bearer, check_id: str) -> dict[str, Any]:
    r = client.post(
        f"/v1/checks/{check_id}/fraud-cases",
        json={"case_type": "identity_fraud", "evidence": "documents did not match"},
        headers=bearer(Role.REVIEWER),
    )
    assert r.status_code == 201, r.text
    case: dict[str, Any] = r.json()
    return case


def test_a_fraud_case_proposed_by_a_reviewer_is_confirmed_by_compliance_and_filed(
    client: TestClient,
    bearer: Bearer,
    referral: str,
    runtime: Runtime,
    stub_broker: dramatiq.Broker,
    worker: dramatiq.Worker,
) -> None:
    case = _propose(client, bearer, referral)
    assert (case["status"], case["proposed_by"]) == ("proposed", "reviewer-app")

    r = client.post(f"/v1/fraud-cases/{case['case_id']}/confirm", headers=bearer(Role.COMPLIANCE))
    _drain(stub_broker, worker)

    assert r.status_code == 200, r.text
    assert r.json()["confirmed_by"] == "compliance-app"
    shown = client.get(f"/v1/fraud-cases/{case['case_id']}", headers=bearer(Role.REVIEWER)).json()
    assert shown["filing"]["status"] == "filed"
    view = runtime.service.get(referral)
    assert (view["decision"], view["flagged"]) == ("decline", True)
    assert ("compliance-app", "fraud_confirmed") in _actions_by(runtime, referral)


def test_the_proposer_cannot_confirm_under_another_role_with_the_same_name(
    client: TestClient, bearer: Bearer, referral: str
) -> None:
    # The token's name is the person: one person holding a second, compliance token (its
    # name differing only in case) is still the proposer.
    case = _propose(client, bearer, referral)
    r = client.post(
        f"/v1/fraud-cases/{case['case_id']}/confirm",
        headers=bearer(Role.COMPLIANCE, "Reviewer-App"),
    )
    assert r.status_code == 409
    assert r.json()["code"] == "same_person"


def test_a_reviewer_cannot_confirm_a_fraud_case(
    client: TestClient, bearer: Bearer, referral: str
) -> None:
    case = _propose(client, bearer, referral)
    r = client.post(f"/v1/fraud-cases/{case['case_id']}/confirm", headers=bearer(Role.REVIEWER))
    assert r.status_code == 403


def test_a_withdrawn_case_cannot_be_confirmed(
    client: TestClient, bearer: Bearer, referral: str
) -> None:
    case = _propose(client, bearer, referral)
    withdrawn = client.post(
        f"/v1/fraud-cases/{case['case_id']}/withdraw", headers=bearer(Role.REVIEWER)
    )
    assert withdrawn.json()["status"] == "withdrawn"

    r = client.post(f"/v1/fraud-cases/{case['case_id']}/confirm", headers=bearer(Role.COMPLIANCE))

    assert r.status_code == 409
    assert r.json()["code"] == "not_proposed"


def test_an_unknown_fraud_case_is_404(client: TestClient, bearer: Bearer) -> None:
    r = client.post("/v1/fraud-cases/no-such-case/confirm", headers=bearer(Role.COMPLIANCE))
    assert r.status_code == 404


def test_a_bad_case_type_is_422_naming_case_type(
    client: TestClient, bearer: Bearer, referral: str
) -> None:
    r = client.post(
        f"/v1/checks/{referral}/fraud-cases",
        json={"case_type": "shoplifting", "evidence": "x"},
        headers=bearer(Role.REVIEWER),
    )
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["case_type"]


def test_service_option_names_become_body_field_names() -> None:
    assert field_name("--case-type") == "case_type"
    assert field_name("--note") == "note"


# -- associations --------------------------------------------------------------------------


def test_an_operator_lists_a_joint_applications_association_and_breaks_it(
    client: TestClient,
    bearer: Bearer,
    runtime: Runtime,
    stub_broker: dramatiq.Broker,
    worker: dramatiq.Worker,
) -> None:
    subject = runtime.service.get(_decided(runtime, stub_broker, worker, "frank"))["subject_id"]
    listed = client.get(f"/v1/subjects/{subject}/associations", headers=bearer(Role.OPERATOR))
    assert listed.status_code == 200
    [association] = listed.json()
    assert (association["source"], association["status"]) == ("joint_application", "active")

    r = client.post(
        f"/v1/associations/{association['id']}/break",
        json={"requested_by": "subject", "note": "separated"},
        headers=bearer(Role.OPERATOR),
    )
    _drain(stub_broker, worker)

    assert r.status_code == 202, r.text
    assert r.json()["status"] in ("breaking", "broken")
    after = client.get(f"/v1/associations/{association['id']}", headers=bearer(Role.OPERATOR))
    notices = {n["agency"]: n["status"] for n in after.json()["notices"]}
    assert notices.keys() == {"experian", "equifax", "callcredit"}
    assert set(notices.values()) <= {"accepted", "refused"}
    assert ("operator-app", "disassociation_recorded") in _audit_of(runtime)


def _audit_of(rt: Runtime) -> list[tuple[str, str]]:
    with rt.store.session() as s:
        return [(e.actor, e.action) for e in s.scalars(select(AuditEvent)).all()]


def test_an_operator_links_two_subjects_and_the_link_is_audited_with_its_name(
    client: TestClient,
    bearer: Bearer,
    runtime: Runtime,
    stub_broker: dramatiq.Broker,
    worker: dramatiq.Worker,
) -> None:
    a = runtime.service.get(_decided(runtime, stub_broker, worker, "alice"))["subject_id"]
    b = runtime.service.get(_decided(runtime, stub_broker, worker, "carol"))["subject_id"]

    r = client.post(
        "/v1/associations",
        json={"subject_id": a, "associate_subject_id": b, "source": "declared", "note": "joint"},
        headers=bearer(Role.OPERATOR),
    )

    assert r.status_code == 201, r.text
    assert (r.json()["source"], r.json()["status"]) == ("declared", "active")
    assert ("operator-app", "association_linked") in _audit_of(runtime)


def test_linking_a_subject_with_itself_is_422_and_an_unknown_subject_404(
    client: TestClient,
    bearer: Bearer,
    runtime: Runtime,
    stub_broker: dramatiq.Broker,
    worker: dramatiq.Worker,
) -> None:
    a = runtime.service.get(_decided(runtime, stub_broker, worker, "alice"))["subject_id"]
    same = {"subject_id": a, "associate_subject_id": a, "source": "operator", "note": "x"}
    unknown = {**same, "associate_subject_id": "no-such-subject"}

    assert (
        client.post("/v1/associations", json=same, headers=bearer(Role.OPERATOR)).status_code == 422
    )
    assert (
        client.post("/v1/associations", json=unknown, headers=bearer(Role.OPERATOR)).status_code
        == 404
    )


def test_a_reviewer_cannot_manage_associations(client: TestClient, bearer: Bearer) -> None:
    r = client.get("/v1/subjects/anyone/associations", headers=bearer(Role.REVIEWER))
    assert r.status_code == 403


def test_the_new_endpoints_are_in_the_openapi(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {
        "/v1/reviews",
        "/v1/checks/{check_id}/review",
        "/v1/checks/{check_id}/decision",
        "/v1/checks/{check_id}/fraud-cases",
        "/v1/fraud-cases/{case_id}/confirm",
        "/v1/fraud-cases/{case_id}/withdraw",
        "/v1/subjects/{subject_id}/associations",
        "/v1/associations",
        "/v1/associations/{association_id}/break",
    } <= paths.keys()


def test_metrics_show_a_reviewers_decision(
    client: TestClient, bearer: Bearer, referral: str
) -> None:
    version = client.get(f"/v1/checks/{referral}", headers=bearer(Role.REVIEWER)).json()["version"]
    client.post(
        f"/v1/checks/{referral}/decision",
        json={"decision": "decline", "note": "n", "version": version},
        headers=bearer(Role.REVIEWER),
    )

    text = client.get("/metrics").text

    assert 'checks_decisions_total{decision="decline",purpose="new_order"} 1.0' in text
    assert 'checks_decisions_total{decision="refer",purpose="new_order"}' not in text
    assert 'checks_agency_call_seconds_count{agency="experian",outcome="completed"} 1.0' in text
