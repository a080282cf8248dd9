"""Retention holds and data-subject rights over HTTP, with the real app and the sandbox.

Given decided checks of the sandbox personas, a compliance token finds a subject from posted
person fields, downloads their export, places and lifts a legal hold, and erases; an erasure the
law forbids (Dan is flagged: six years) is a 409 problem naming the reason and the date
retention ends. Other roles get 403.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from checks.access import Role
from checks.models import AuditEvent
from checks.tokens import TokenService
from tests.helpers import request_for
from web import create_app
from web.settings import WebSettings
from workers.runtime import Runtime

Bearer = Callable[[Role], dict[str, str]]


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    """A client of the app on the test runtime."""
    app: FastAPI = create_app(
        runtime, WebSettings(rate_per_second=1000, rate_burst=2000), run_worker=False
    )
    with TestClient(app) as c:
        yield c


@pytest.fixture
def bearer(runtime: Runtime) -> Bearer:
    """The Authorization header of a token for a role."""
    tokens = TokenService(runtime.store)
    issued: dict[Role, str] = {}

    def make(role: Role) -> dict[str, str]:
        if role not in issued:
            issued[role] = tokens.create(f"{role.value}-app", role, actor="test").token
        return {"Authorization": f"Bearer {issued[role]}"}

    return make


def _decided(runtime: Runtime, persona: str) -> tuple[str, str]:
    """A decided check of ``persona``: its id and subject id."""
    check_id = runtime.service.submit(request_for(persona)).check_id
    view = runtime.service.wait(check_id, timeout=30)
    assert view["status"] == "decided"
    return check_id, view["subject_id"]


def _actions(runtime: Runtime) -> list[tuple[str, str]]:
    with runtime.store.session() as s:
        return [(e.actor, e.action) for e in s.scalars(select(AuditEvent)).all()]


def test_compliance_finds_a_subject_from_posted_person_fields(
    client: TestClient, bearer: Bearer, runtime: Runtime, worker: object
) -> None:
    _, subject_id = _decided(runtime, "alice")

    r = client.post(
        "/v1/subjects/search",
        json=request_for("alice")["applicant"],
        headers=bearer(Role.COMPLIANCE),
    )

    assert r.status_code == 200, r.text
    assert r.json() == {"subject_ids": [subject_id]}


def test_a_search_with_bad_person_fields_is_422_naming_them(
    client: TestClient, bearer: Bearer
) -> None:
    person = request_for("alice")["applicant"]
    person["date_of_birth"] = "not a date"
    del person["surname"]

    r = client.post("/v1/subjects/search", json=person, headers=bearer(Role.COMPLIANCE))

    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert {"date_of_birth", "surname"} <= fields
    assert "not a date" not in r.text


def test_the_export_is_a_json_download_of_everything_held(
    client: TestClient, bearer: Bearer, runtime: Runtime, worker: object
) -> None:
    check_id, subject_id = _decided(runtime, "alice")

    r = client.get(f"/v1/subjects/{subject_id}/export", headers=bearer(Role.COMPLIANCE))

    assert r.status_code == 200
    assert r.headers["content-disposition"].startswith("attachment;")
    document = r.json()
    assert document.keys() >= {"subject_id", "personal_data", "checks", "footprints", "retention"}
    assert [c["id"] for c in document["checks"]] == [check_id]
    assert ("compliance-app", "subject_access_request") in _actions(runtime)


def test_a_submitter_or_reviewer_calling_export_is_403(client: TestClient, bearer: Bearer) -> None:
    for role in (Role.SUBMITTER, Role.REVIEWER, Role.OPERATOR):
        r = client.get("/v1/subjects/anyone/export", headers=bearer(role))
        assert r.status_code == 403, role


def test_an_unknown_subject_is_404(client: TestClient, bearer: Bearer) -> None:
    r = client.get("/v1/subjects/no-such-subject/export", headers=bearer(Role.COMPLIANCE))
    assert (r.status_code, r.json()["code"]) == (404, "subject_not_found")


def test_erasing_an_unflagged_subject_erases_their_checks(
    client: TestClient, bearer: Bearer, runtime: Runtime, worker: object
) -> None:
    check_id, subject_id = _decided(runtime, "alice")

    r = client.post(f"/v1/subjects/{subject_id}/erase", headers=bearer(Role.COMPLIANCE))

    assert r.status_code == 200, r.text
    assert r.json()["erased"] == {"checks": [check_id], "subject": True}
    assert runtime.service.get(check_id)["purged"] is True
    assert ("compliance-app", "erased") in _actions(runtime)


def test_erasing_a_flagged_subject_is_409_with_the_reason_and_the_date_retention_ends(
    client: TestClient, bearer: Bearer, runtime: Runtime, worker: object
) -> None:
    check_id, subject_id = _decided(runtime, "dan")
    flagged_until = runtime.service.get(check_id)["retention_until"]

    r = client.post(f"/v1/subjects/{subject_id}/erase", headers=bearer(Role.COMPLIANCE))

    assert r.status_code == 409
    problem = r.json()
    assert problem["code"] == "erasure_refused"
    assert problem["reason"] == "flagged"
    assert problem["retention_ends"] is not None
    assert problem["retention_ends"] in problem["detail"]
    assert flagged_until is None or problem["retention_ends"] <= flagged_until[:10]
    assert runtime.service.get(check_id)["purged"] is False


def test_a_legal_hold_blocks_erasure_until_it_is_released(
    client: TestClient, bearer: Bearer, runtime: Runtime, worker: object
) -> None:
    check_id, subject_id = _decided(runtime, "alice")
    headers = bearer(Role.COMPLIANCE)

    held = client.put(
        f"/v1/subjects/{subject_id}/hold", json={"reason": "CASE-42"}, headers=headers
    )
    refused = client.post(f"/v1/subjects/{subject_id}/erase", headers=headers)
    released = client.delete(f"/v1/subjects/{subject_id}/hold", headers=headers)
    erased = client.post(f"/v1/subjects/{subject_id}/erase", headers=headers)

    assert held.json() == {"subject_id": subject_id, "legal_hold": True, "changed": True}
    assert refused.status_code == 409
    assert (refused.json()["reason"], refused.json()["retention_ends"]) == ("legal_hold", None)
    assert released.json()["legal_hold"] is False
    assert erased.status_code == 200
    actions = _actions(runtime)
    assert ("compliance-app", "legal_hold_placed") in actions
    assert ("compliance-app", "legal_hold_released") in actions


def test_a_blank_hold_reason_is_422(client: TestClient, bearer: Bearer) -> None:
    r = client.put("/v1/subjects/x/hold", json={"reason": "  "}, headers=bearer(Role.COMPLIANCE))
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["reason"]


def test_an_operator_cannot_place_a_hold(client: TestClient, bearer: Bearer) -> None:
    r = client.put("/v1/subjects/x/hold", json={"reason": "r"}, headers=bearer(Role.OPERATOR))
    assert r.status_code == 403


def test_the_subject_endpoints_are_in_the_openapi(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {
        "/v1/subjects/search",
        "/v1/subjects/{subject_id}/export",
        "/v1/subjects/{subject_id}/erase",
        "/v1/subjects/{subject_id}/hold",
    } <= paths.keys()
    assert set(paths["/v1/subjects/{subject_id}/hold"]) == {"put", "delete"}
