"""The HTTP API with the real app: tokens and roles, submit, wait, show, list, rerun, errors.

Given a runtime on a fresh SQLite store with the sandbox and an in-process worker, the tests
call the app as a client would (Starlette's TestClient, or httpx over ASGI for concurrency).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import dramatiq
import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from checks.access import Role
from checks.tokens import TokenService
from tests.helpers import SHOW_KEYS, request_for
from web import create_app
from web.settings import WebSettings
from workers.runtime import Runtime

Bearer = Callable[[Role], dict[str, str]]


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
    """Issue a token for a role; returns the Authorization header for it."""
    tokens = TokenService(runtime.store)
    issued: dict[Role, str] = {}

    def make(role: Role) -> dict[str, str]:
        if role not in issued:
            issued[role] = tokens.create(f"{role.value}-app", role, actor="test").token
        return {"Authorization": f"Bearer {issued[role]}"}

    return make


def test_submit_wait_and_show_give_the_decision(
    client: TestClient, bearer: Bearer, worker: dramatiq.Worker
) -> None:
    r = client.post("/v1/checks", json=request_for("alice"), headers=bearer(Role.SUBMITTER))
    assert r.status_code == 202
    check_id = r.json()["id"]
    assert r.headers["location"] == f"/v1/checks/{check_id}"

    shown = client.get(f"/v1/checks/{check_id}?wait=30", headers=bearer(Role.SUBMITTER))

    assert shown.status_code == 200
    view = shown.json()
    assert view.keys() >= SHOW_KEYS
    assert (view["status"], view["decision"]) == ("decided", "accept")
    assert view["requested_by"] == "submitter-app"


def test_a_submission_is_audited_with_the_tokens_name(
    client: TestClient, bearer: Bearer, runtime: Runtime
) -> None:
    r = client.post("/v1/checks", json=request_for("alice"), headers=bearer(Role.SUBMITTER))
    timeline = runtime.service.get(r.json()["id"])["timeline"]
    assert [(e["actor"], e["action"]) for e in timeline][:1] == [("submitter-app", "submitted")]


def test_the_same_idempotency_key_twice_gives_one_check(
    client: TestClient, bearer: Bearer, runtime: Runtime
) -> None:
    body = request_for("alice")
    del body["idempotency_key"]
    headers = {**bearer(Role.SUBMITTER), "Idempotency-Key": "ORD-HTTP-1"}

    first = client.post("/v1/checks", json=body, headers=headers)
    second = client.post("/v1/checks", json=body, headers=headers)

    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert len(runtime.service.list_checks()) == 1


def test_a_header_key_that_differs_from_the_bodys_is_refused(
    client: TestClient, bearer: Bearer
) -> None:
    headers = {**bearer(Role.SUBMITTER), "Idempotency-Key": "OTHER"}
    r = client.post("/v1/checks", json=request_for("alice"), headers=headers)
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["idempotency_key"]


def test_an_invalid_request_gets_422_naming_every_bad_field_and_writes_nothing(
    client: TestClient, bearer: Bearer, runtime: Runtime
) -> None:
    body = request_for("alice")
    body["applicant"]["addresses"][0]["postcode"] = "ZZ99 ZZZZ"
    body["applicant"]["date_of_birth"] = "2015-01-01"
    body["product"]["credit_amount"] = "lots"
    body["surprise"] = 1

    r = client.post("/v1/checks", json=body, headers=bearer(Role.SUBMITTER))

    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["status"] == 422 and problem["title"] and problem["type"]
    fields = {e["field"] for e in problem["errors"]}
    assert {
        "applicant.addresses.0.postcode",
        "applicant.date_of_birth",
        "product.credit_amount",
        "surprise",
    } <= fields
    assert runtime.service.list_checks() == []


def test_a_body_that_is_not_json_gets_422(client: TestClient, bearer: Bearer) -> None:
    r = client.post(
        "/v1/checks",
        content=b"{not json",
        headers={**bearer(Role.SUBMITTER), "Content-Type": "application/json"},
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "$"


def test_no_token_or_a_bad_token_is_401(client: TestClient) -> None:
    missing = client.post("/v1/checks", json=request_for("alice"))
    wrong = client.get("/v1/checks", headers={"Authorization": "Bearer chk_nope"})
    assert missing.status_code == wrong.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert missing.json()["code"] == "unauthenticated"


def test_a_revoked_token_is_401(client: TestClient, runtime: Runtime) -> None:
    tokens = TokenService(runtime.store)
    issued = tokens.create("leaver", Role.OPERATOR, actor="test")
    headers = {"Authorization": f"Bearer {issued.token}"}
    assert client.get("/v1/checks", headers=headers).status_code == 200
    tokens.revoke("leaver", actor="test")
    assert client.get("/v1/checks", headers=headers).status_code == 401


def test_a_submitter_calling_rerun_is_403(
    client: TestClient, bearer: Bearer, runtime: Runtime
) -> None:
    r = client.post("/v1/checks", json=request_for("alice"), headers=bearer(Role.SUBMITTER))
    rerun = client.post(f"/v1/checks/{r.json()['id']}/rerun", headers=bearer(Role.SUBMITTER))
    assert rerun.status_code == 403
    assert rerun.json()["code"] == "forbidden"


def test_an_operator_cannot_submit(client: TestClient, bearer: Bearer) -> None:
    r = client.post("/v1/checks", json=request_for("alice"), headers=bearer(Role.OPERATOR))
    assert r.status_code == 403


def test_a_submitter_reads_only_its_own_checks(
    client: TestClient, bearer: Bearer, runtime: Runtime
) -> None:
    mine = client.post("/v1/checks", json=request_for("alice"), headers=bearer(Role.SUBMITTER))
    other_token = TokenService(runtime.store).create("other-app", Role.SUBMITTER, actor="t")
    other = {"Authorization": f"Bearer {other_token.token}"}

    assert client.get(f"/v1/checks/{mine.json()['id']}", headers=other).status_code == 404
    assert client.get("/v1/checks", headers=other).json()["items"] == []
    own = client.get("/v1/checks", headers=bearer(Role.SUBMITTER)).json()["items"]
    assert [c["id"] for c in own] == [mine.json()["id"]]


def test_an_unknown_check_is_404_problem(client: TestClient, bearer: Bearer) -> None:
    r = client.get("/v1/checks/nope", headers=bearer(Role.OPERATOR))
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"


def test_a_failed_check_is_listed_and_rerun_by_an_operator(
    client: TestClient, bearer: Bearer, runtime: Runtime, worker: dramatiq.Worker
) -> None:
    sandbox = runtime.agencies.sandbox
    assert sandbox is not None
    sandbox.set_faults("cifas=http401")
    r = client.post("/v1/checks", json=request_for("alice"), headers=bearer(Role.SUBMITTER))
    check_id = r.json()["id"]
    failed = client.get(f"/v1/checks/{check_id}?wait=30", headers=bearer(Role.SUBMITTER)).json()
    assert failed["status"] == "failed"

    listed = client.get("/v1/checks?status=failed", headers=bearer(Role.OPERATOR)).json()
    assert [c["id"] for c in listed["items"]] == [check_id]

    sandbox.set_faults(None)
    rerun = client.post(f"/v1/checks/{check_id}/rerun", headers=bearer(Role.OPERATOR))
    assert rerun.status_code == 202
    assert rerun.json()["searched_again"] == ["cifas"]
    after = client.get(f"/v1/checks/{check_id}?wait=30", headers=bearer(Role.OPERATOR)).json()
    assert (after["status"], after["decision"]) == ("decided", "accept")
    assert ("operator-app", "rerun") in [(e["actor"], e["action"]) for e in after["timeline"]]
    again = client.post(f"/v1/checks/{check_id}/rerun", headers=bearer(Role.OPERATOR))
    assert again.status_code == 409


def test_a_bulk_rerun_previews_then_reruns_the_failed_checks(
    client: TestClient, bearer: Bearer, runtime: Runtime, worker: dramatiq.Worker
) -> None:
    assert runtime.agencies.sandbox is not None
    runtime.agencies.sandbox.set_faults("cifas=http401")
    ids = [
        client.post("/v1/checks", json=request_for("alice"), headers=bearer(Role.SUBMITTER)).json()[
            "id"
        ]
        for _ in range(2)
    ]
    for cid in ids:
        client.get(f"/v1/checks/{cid}?wait=30", headers=bearer(Role.OPERATOR))
    runtime.agencies.sandbox.set_faults(None)
    op = bearer(Role.OPERATOR)

    preview = client.post("/v1/reruns", json={"agency": "cifas", "dry_run": True}, headers=op)
    done = client.post("/v1/reruns", json={"agency": "cifas"}, headers=op)

    assert sorted(preview.json()["would_rerun"]) == sorted(ids)
    assert sorted(done.json()["reran"]) == sorted(ids)


def test_the_list_is_paginated(client: TestClient, bearer: Bearer, runtime: Runtime) -> None:
    for _ in range(5):
        client.post("/v1/checks", json=request_for("alice"), headers=bearer(Role.SUBMITTER))
    op = bearer(Role.OPERATOR)

    first = client.get("/v1/checks?limit=2", headers=op).json()
    second = client.get(first["next"], headers=op).json()
    third = client.get(second["next"], headers=op).json()

    seen = [c["id"] for page in (first, second, third) for c in page["items"]]
    assert len(seen) == len(set(seen)) == 5
    assert third["next"] is None


def test_a_bad_query_parameter_is_a_422_problem(client: TestClient, bearer: Bearer) -> None:
    r = client.get("/v1/checks?status=lost&limit=0&since=soon", headers=bearer(Role.OPERATOR))
    assert r.status_code == 422
    assert {"query.status", "query.limit"} <= {e["field"] for e in r.json()["errors"]}


def test_a_token_over_its_rate_gets_429_with_retry_after(runtime: Runtime, bearer: Bearer) -> None:
    app = create_app(runtime, WebSettings(rate_per_second=0.5, rate_burst=2), run_worker=False)
    with TestClient(app) as c:
        codes = [c.get("/v1/checks", headers=bearer(Role.OPERATOR)) for _ in range(3)]
    assert [r.status_code for r in codes] == [200, 200, 429]
    assert int(codes[2].headers["retry-after"]) >= 1


def test_openapi_describes_the_check_request(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/v1/checks"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["$ref"] == "#/components/schemas/CheckRequest"
    assert "applicant" in spec["components"]["schemas"]["CheckRequest"]["properties"]


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "database": "ok", "broker": "ok"}


def test_every_response_carries_a_request_id(client: TestClient) -> None:
    given = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    made = client.get("/healthz")
    assert given.headers["x-request-id"] == "abc-123"
    assert len(made.headers["x-request-id"]) == 32


def test_metrics_after_checks_show_decisions_and_agency_latency(
    client: TestClient, bearer: Bearer, worker: dramatiq.Worker
) -> None:
    for persona in ("alice", "carol"):
        r = client.post("/v1/checks", json=request_for(persona), headers=bearer(Role.SUBMITTER))
        client.get(f"/v1/checks/{r.json()['id']}?wait=30", headers=bearer(Role.SUBMITTER))

    text = client.get("/metrics").text

    assert 'checks_decisions_total{decision="accept",purpose="new_order"} 1.0' in text
    assert 'checks_decisions_total{decision="decline",purpose="new_order"} 1.0' in text
    assert 'checks_agency_call_seconds_count{agency="experian",outcome="completed"} 2.0' in text
    assert 'checks_footprints_total{agency="experian",search_type="hard"} 2.0' in text
    assert 'checks_agency_breaker_open{agency="experian"} 0.0' in text
    assert "checks_queue_depth" in text
    assert 'checks_http_requests_total{method="POST",route="/v1/checks",status="202"} 2.0' in text


def test_1000_concurrent_submits_of_100_keys_make_100_checks(
    app: FastAPI, bearer: Bearer, runtime: Runtime
) -> None:
    headers = bearer(Role.SUBMITTER)
    bodies = [request_for("alice") for _ in range(100)]

    async def burst() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            return await asyncio.gather(
                *(c.post("/v1/checks", json=bodies[i % 100], headers=headers) for i in range(1000))
            )

    responses = asyncio.run(burst())

    assert {r.status_code for r in responses} == {202}
    ids_by_key: dict[str, set[str]] = {}
    for i, r in enumerate(responses):
        ids_by_key.setdefault(bodies[i % 100]["idempotency_key"], set()).add(r.json()["id"])
    assert all(len(ids) == 1 for ids in ids_by_key.values())
    assert len(runtime.service.list_checks(limit=1000)) == 100


def test_each_request_is_logged_once_with_its_id_and_route_but_no_query(
    client: TestClient, bearer: Bearer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="web")
    client.get(
        "/v1/checks?agency=experian", headers={**bearer(Role.OPERATOR), "X-Request-ID": "r-1"}
    )

    events = [r.msg for r in caplog.records if isinstance(r.msg, dict)]
    logged = [e for e in events if e.get("event") == "http.request"]
    assert logged == [
        {**logged[0], "request_id": "r-1", "route": "/v1/checks", "status": 200, "method": "GET"}
    ]
    assert "experian" not in str(logged)


def test_an_unreachable_database_gives_503_and_readyz_says_so(runtime: Runtime) -> None:
    from dataclasses import replace

    from checks.api import CheckService
    from checks.config import Settings
    from checks.store import Store
    from workers.dispatch import BrokerDispatcher

    # Port 1 on loopback: nothing listens, so every connection is refused at once.
    down = Store(Settings(database_url="postgresql+psycopg://postgres@127.0.0.1:1/none"))
    cut_off = replace(
        runtime,
        store=down,
        service=CheckService(down, BrokerDispatcher(runtime.broker), runtime.agencies.names()),
    )
    app = create_app(cut_off, WebSettings(), run_worker=False)
    with TestClient(app) as c:
        r = c.get("/v1/checks", headers={"Authorization": "Bearer chk_any"})
        ready = c.get("/readyz")
    assert r.status_code == 503
    assert r.json()["code"] == "unavailable" and r.headers["retry-after"] == "5"
    assert ready.status_code == 503
    assert ready.json()["database"] == "unreachable"
    down.dispose()


def test_a_body_over_the_size_cap_is_refused_with_413(client: TestClient, bearer: Bearer) -> None:
    from web.api import MAX_BODY_BYTES

    body = request_for("alice")
    body["requested_by"] = "x" * MAX_BODY_BYTES
    r = client.post("/v1/checks", json=body, headers=bearer(Role.SUBMITTER))
    assert r.status_code == 413
    assert r.json()["code"] == "too_large"
