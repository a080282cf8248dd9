"""The retail fraud alert scheme adapter (imrg) against the sandbox: wire format, personas,
the scheme's error envelope, and answers it must refuse.

Every test builds its own sandbox through the adapter harness (no network, tiny backoffs).
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

import httpx
import pytest

from adapters.imrg import (
    API_KEY_HEADER,
    SEARCH_PATH,
    ImrgAdapter,
    describe_error,
    normalise_postcode,
)
from agencies.contract import Address, Alert, AlertResult, SearchRequest, SearchType
from agencies.errors import (
    AgencyError,
    AuthenticationFailed,
    PermanentAgencyError,
    TransientAgencyError,
    UnusableResponse,
)
from agencies.http import AgencyClient
from agencies.sandbox import default_fixtures
from fixtures import FIXTURES_DIR
from tests.adapter_harness import FAST, build, json_of, run_searches, sandbox_of, search_request
from tests.adapter_harness import sent as sent_to

DELIVERY = Address(line1="Unit 7 Dock Road", town="Hull", postcode="hu11aa")


def imrg_search(key: str | None = "alice", **kwargs: Any) -> SearchRequest:
    """An alert search (a FRAUD search, as the plan makes it) for one persona."""
    return search_request(key, search_type=SearchType.FRAUD, **kwargs)


def search(
    *requests: SearchRequest, faults: str | None = None, **policy: float | int
) -> list[AlertResult]:
    """Run alert searches in a fresh sandbox; return the results."""
    agencies = build("imrg", faults=faults, latency=None, **policy)
    results = run_searches(agencies, "imrg", *requests)
    alert_results = [r for r in results if isinstance(r, AlertResult)]
    assert len(alert_results) == len(results)
    return alert_results


# -- personas -------------------------------------------------------------------------------

ERIN_ALERT = Alert(
    code="fraudulent",
    identifier="address",
    member="Harbour Electricals Ltd",
    alerted_on=date(2026, 10, 14),
)

PERSONAS: list[str | None] = [p.key for p in default_fixtures().personas] + [None]


@pytest.mark.parametrize("key", PERSONAS, ids=lambda k: k or "default")
def test_an_alert_is_found_by_the_identifier_it_was_raised_on_whoever_searches(
    key: str | None,
) -> None:
    # Given the alert a member raised on the address Erin's goods were sent to
    # When anyone's order is searched for delivery to that address
    (result,) = search(imrg_search(key, client_ref=f"CHK-{key}", delivery_address=DELIVERY))

    # Then the scheme reports that alert: it matches identifiers, not people
    assert result.alerts == (ERIN_ALERT,)
    assert (result.agency, result.client_ref) == ("imrg", f"CHK-{key}")
    assert result.agency_ref.startswith("IMRGS")


@pytest.mark.parametrize("key", PERSONAS, ids=lambda k: k or "default")
def test_identifiers_no_alert_was_raised_on_find_no_alerts(key: str | None) -> None:
    # Given an order delivered to the applicant's own address (no alert raised on it)
    # When the scheme is searched, even for Erin
    (result,) = search(imrg_search(key, client_ref=f"CHK-{key}"))

    # Then it reports nothing
    assert result.alerts == ()


def test_every_persona_has_an_imrg_fixture() -> None:
    keys = {p.key for p in default_fixtures().personas} | {"default"}
    assert keys <= {p.stem for p in (FIXTURES_DIR / "imrg").glob("*.json")}


def test_purpose_code_is_alert() -> None:
    adapter = build("imrg")["imrg"]
    assert adapter.purpose_code(imrg_search()) == "ALERT"


def test_the_same_client_reference_twice_is_one_search_with_one_scheme_reference() -> None:
    agencies = build("imrg")
    request = imrg_search("erin", client_ref="CHK-7")
    first, second = run_searches(agencies, "imrg", request, request)
    assert first == second
    assert sandbox_of(agencies).footprints("imrg") == {"CHK-7"}


# -- the request on the wire ----------------------------------------------------------------


def test_search_request_on_the_wire_has_the_documented_shape() -> None:
    # Given the sandbox
    agencies = build("imrg")
    sandbox = sandbox_of(agencies)

    # When Erin, ordering for delivery elsewhere, is searched
    run_searches(
        agencies, "imrg", imrg_search("erin", client_ref="CHK-42", delivery_address=DELIVERY)
    )

    # Then the scheme received the API key and the identifiers in its own format
    (request,) = sent_to(agencies, "imrg", SEARCH_PATH)
    assert request.method == "POST"
    assert request.headers[API_KEY_HEADER] == "sandbox"
    assert json_of(request) == {
        "memberId": "sandbox",
        "searchReference": "CHK-42",
        "identifiers": {
            "address": {"line1": "Unit 7 Dock Road", "postcode": "HU1 1AA"},
            "email": "erin@example.com",
            "ip": "203.0.113.7",
            "deviceId": None,
        },
    }
    (recorded,) = sandbox.calls_to("imrg", "search")
    assert (recorded.client_ref, recorded.search_type, recorded.persona) == (
        "CHK-42",
        "fraud",
        "erin",
    )


def test_an_alert_search_sends_no_surname_and_no_date_of_birth() -> None:
    # Given Erin's order for delivery elsewhere
    agencies = build("imrg")
    run_searches(agencies, "imrg", imrg_search("erin", delivery_address=DELIVERY))

    # When the scheme receives the search
    (request,) = sent_to(agencies, "imrg", SEARCH_PATH)
    wire = request.content.decode()

    # Then only the identifiers the scheme matches on were sent (data minimisation)
    assert set(json_of(request)) == {"memberId", "searchReference", "identifiers"}
    assert "Alert" not in wire and "1988" not in wire and "Erin" not in wire


def test_without_a_delivery_address_the_current_address_is_searched() -> None:
    agencies = build("imrg")
    run_searches(agencies, "imrg", imrg_search("alice", delivery_address=None))
    (request,) = sent_to(agencies, "imrg", SEARCH_PATH)
    assert json_of(request)["identifiers"]["address"] == {
        "line1": "10 High Street",
        "postcode": "LS1 4AP",
    }


def test_a_device_id_is_sent_and_a_missing_email_is_null_not_empty() -> None:
    # Given an applicant with a device id but no email
    request = imrg_search("alice")
    person = request.person.model_copy(update={"email": "", "device_id": "dev-9f2c"})
    request = request.model_copy(update={"person": person})
    agencies = build("imrg")

    # When the scheme is searched
    run_searches(agencies, "imrg", request)

    # Then an identifier we lack is null (an empty string could match), the device is sent
    (sent,) = sent_to(agencies, "imrg", SEARCH_PATH)
    identifiers = json_of(sent)["identifiers"]
    assert (identifiers["email"], identifiers["deviceId"]) == (None, "dev-9f2c")


@pytest.mark.parametrize(
    ("given", "normalised"),
    [("LS1 4AP", "LS1 4AP"), ("ls14ap", "LS1 4AP"), (" sw1a  1aa ", "SW1A 1AA"), ("M1", "M1")],
)
def test_postcodes_are_sent_in_their_normalised_form(given: str, normalised: str) -> None:
    assert normalise_postcode(given) == normalised


@pytest.mark.parametrize("search_type", [SearchType.HARD, SearchType.SOFT])
def test_a_credit_search_type_is_refused_before_anything_is_sent(search_type: SearchType) -> None:
    agencies = build("imrg")
    with pytest.raises(PermanentAgencyError) as info:
        run_searches(agencies, "imrg", search_request("alice", search_type=search_type))
    assert info.value.sent is False and info.value.code == "unsupported_search"
    assert sent_to(agencies, "imrg") == []


# -- the scheme's error envelope and faults -------------------------------------------------

FaultCase = tuple[str, Mapping[str, float | int], type[AgencyError], str, str]

FAULTS: list[FaultCase] = [
    ("timeout", {}, TransientAgencyError, "agency_timeout", "timed out"),
    ("http500", {}, TransientAgencyError, "agency_unavailable", "HTTP 500: internal_error"),
    (
        "http503",
        {},
        TransientAgencyError,
        "agency_unavailable",
        "HTTP 503 service unavailable: service_unavailable Service temporarily unavailable",
    ),
    (
        "http429",
        {},
        TransientAgencyError,
        "agency_rate_limited",
        "HTTP 429 too many requests: rate_limited Too many requests",
    ),
    (
        "http401",
        {},
        AuthenticationFailed,
        "agency_auth_failed",
        "HTTP 401: credentials rejected: invalid_api_key API key missing or not recognised",
    ),
    ("garbage", {}, UnusableResponse, "agency_bad_response", "body is not JSON"),
    ("truncated", {}, UnusableResponse, "agency_bad_response", "body is not JSON"),
    (
        "slow:300",
        {"connect_timeout": 0.05, "read_timeout": 0.05, "quick_retries": 0},
        TransientAgencyError,
        "agency_timeout",
        "no answer within 0.1s",
    ),
    ("flaky:3", {}, TransientAgencyError, "agency_unavailable", "HTTP 503"),
]


@pytest.mark.parametrize(
    ("fault", "policy", "error", "code", "message"), FAULTS, ids=[f[0] for f in FAULTS]
)
def test_each_sandbox_fault_raises_the_matching_agency_error_with_the_scheme_detail(
    fault: str,
    policy: Mapping[str, float | int],
    error: type[AgencyError],
    code: str,
    message: str,
) -> None:
    # Given the scheme answers with a fault
    # When a search runs
    with pytest.raises(AgencyError) as info:
        search(imrg_search(), faults=f"imrg={fault}", **policy)

    # Then the error has the right class and code, and the scheme's own detail
    assert type(info.value) is error
    assert info.value.code == code
    assert message in str(info.value)
    assert str(info.value).startswith("imrg: ")


def test_flaky_once_succeeds_after_one_quick_retry() -> None:
    agencies = build("imrg", faults="imrg=flaky:1")
    (result,) = run_searches(agencies, "imrg", imrg_search("erin", delivery_address=DELIVERY))
    assert isinstance(result, AlertResult) and len(result.alerts) == 1
    assert [c.fault for c in sandbox_of(agencies).calls_to("imrg", "search")] == ["flaky:1", ""]


def sandbox_post(body: Any, headers: Mapping[str, str]) -> httpx.Response:
    """POST straight to the sandbox's scheme, bypassing the adapter (and its API key)."""
    agencies = build("imrg")
    http = httpx.AsyncClient(
        base_url=ImrgAdapter.sandbox_base_url, transport=sandbox_of(agencies).transport()
    )

    async def go() -> httpx.Response:
        try:
            return await http.post(SEARCH_PATH, json=body, headers=headers)
        finally:
            await http.aclose()
            await agencies.aclose()

    return asyncio.run(go())


def wire_body(**changes: Any) -> dict[str, Any]:
    """A valid search body for Erin, with top-level changes."""
    body: dict[str, Any] = {
        "memberId": "M1",
        "searchReference": "CHK-1",
        "identifiers": {
            "address": {"line1": "Unit 7 Dock Road", "postcode": "HU1 1AA"},
            "email": None,
            "ip": None,
            "deviceId": None,
        },
    }
    body.update(changes)
    return body


@pytest.mark.parametrize("headers", [{}, {API_KEY_HEADER: "not-the-key"}], ids=["none", "wrong"])
def test_sandbox_answers_401_in_the_scheme_format_to_a_missing_or_invalid_api_key(
    headers: Mapping[str, str],
) -> None:
    response = sandbox_post(wire_body(), headers)
    assert response.status_code == 401
    assert response.json() == {
        "error": {"code": "invalid_api_key", "message": "API key missing or not recognised"}
    }
    assert describe_error(response) == "invalid_api_key API key missing or not recognised"


@pytest.mark.parametrize(
    "changes",
    [
        {"memberId": ""},
        {"searchReference": None},
        {
            "identifiers": {
                "address": {"line1": "1 Road"},
                "email": None,
                "ip": None,
                "deviceId": None,
            }
        },
    ],
    ids=["no member", "no reference", "address without postcode"],
)
def test_sandbox_answers_400_in_the_scheme_format_to_a_request_it_cannot_read(
    changes: dict[str, Any],
) -> None:
    response = sandbox_post(wire_body(**changes), {API_KEY_HEADER: "sandbox"})
    assert response.status_code == 400
    assert describe_error(response) == "invalid_request The search request could not be read"


def test_sandbox_answers_identifiers_nobody_raised_an_alert_on_from_the_default_fixture() -> None:
    body = wire_body()
    body["identifiers"]["address"] = {"line1": "10 High Street", "postcode": "LS1 4AP"}
    response = sandbox_post(body, {API_KEY_HEADER: "sandbox"})
    assert response.status_code == 200
    assert response.json()["alerts"] == []


def test_sandbox_matches_an_alerted_address_whatever_its_case_and_spacing() -> None:
    body = wire_body()
    body["identifiers"]["address"] = {"line1": "unit 7  DOCK road", "postcode": "hu11aa"}
    response = sandbox_post(body, {API_KEY_HEADER: "sandbox"})
    assert [a["alertId"] for a in response.json()["alerts"]] == ["IMRG-AL-2026-0418873"]


def test_describe_error_ignores_a_body_that_is_not_the_envelope() -> None:
    for content in (b"not json", b"[1]", b'{"error": "x"}'):
        assert describe_error(httpx.Response(500, content=content)) == ""


def test_a_missing_member_id_is_refused_permanently_and_not_retried() -> None:
    # Given an adapter configured without a member id
    agencies = build("imrg")
    client = AgencyClient(
        "imrg",
        httpx.AsyncClient(
            base_url=ImrgAdapter.sandbox_base_url, transport=sandbox_of(agencies).transport()
        ),
        ImrgAdapter.default_policy().with_overrides(**FAST),
        auth=ImrgAdapter.make_auth(ImrgAdapter.sandbox_base_url, {"api_key": "sandbox"}),
        credentials={"api_key": "sandbox"},
    )

    async def go() -> AlertResult:
        try:
            result = await ImrgAdapter(client).search(imrg_search())
            # search() returns any contract result; this agency's is a AlertResult.
            assert isinstance(result, AlertResult)
            return result
        finally:
            await client.http.aclose()

    # When it searches / Then the scheme refuses, and nothing is retried
    with pytest.raises(PermanentAgencyError) as info:
        asyncio.run(go())
    assert "HTTP 400: request refused: invalid_request" in str(info.value)
    assert len(sandbox_of(agencies).calls_to("imrg", "search")) == 1


# -- answers the adapter must not use -------------------------------------------------------

SENT_REF = "CHK-1:imrg"


def recorded_answer(key: str) -> dict[str, Any]:
    """A persona's fixture as the sandbox would send it."""
    answer: dict[str, Any] = json.loads(
        (FIXTURES_DIR / "imrg" / f"{key}.json").read_text(encoding="utf-8")
    )
    answer.update(searchReference=SENT_REF, searchId="IMRGS0000000001")
    return answer


def run_with_answer(answer: Any) -> AlertResult:
    """Search once against a scheme that always answers ``answer`` (JSON-encoded)."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"content-type": "application/json"}, content=json.dumps(answer).encode()
        )

    http = httpx.AsyncClient(
        base_url=ImrgAdapter.sandbox_base_url, transport=httpx.MockTransport(handler)
    )
    policy = ImrgAdapter.default_policy().with_overrides(**FAST)
    adapter = ImrgAdapter(
        AgencyClient("imrg", http, policy, credentials={"api_key": "k", "member_id": "m"})
    )

    async def go() -> AlertResult:
        try:
            result = await adapter.search(imrg_search(client_ref=SENT_REF))
            # search() returns any contract result; this agency's is a AlertResult.
            assert isinstance(result, AlertResult)
            return result
        finally:
            await http.aclose()

    return asyncio.run(go())


Mutation = Callable[[dict[str, Any]], Any]


def _alert_change(**changes: Any) -> Mutation:
    return lambda a: a["alerts"][0].update(changes) or a


UNUSABLE: dict[str, tuple[str, Mutation, str]] = {
    "not an object": ("alice", lambda a: [a], "answer is not an object"),
    "another searchReference": (
        "alice",
        lambda a: a.update(searchReference="CHK-OTHER") or a,
        "answer is for searchReference 'CHK-OTHER'",
    ),
    "empty searchId": ("alice", lambda a: a.update(searchId="") or a, "searchId is empty"),
    "no alerts": ("alice", lambda a: (a.pop("alerts"), a)[1], "answer.alerts is missing"),
    "alerts not a list": ("alice", lambda a: a.update(alerts={}) or a, "alerts is not a list"),
    "alert not an object": ("alice", lambda a: a.update(alerts=["x"]) or a, "alerts[0] is not"),
    "unknown code": (
        "erin",
        _alert_change(code="Fraudulent"),
        "alerts[0].code 'Fraudulent' is not one of fraudulent, chargeback, suspect",
    ),
    "unknown identifier type": (
        "erin",
        _alert_change(identifierType="phone"),
        "alerts[0].identifierType 'phone' is not one of address, email, ip, device",
    ),
    "empty alert id": ("erin", _alert_change(alertId=" "), "alerts[0].alertId is empty"),
    "no member": ("erin", lambda a: (a["alerts"][0].pop("member"), a)[1], "member is missing"),
    "bad date": (
        "erin",
        _alert_change(raisedOn="14/10/2026"),
        "alerts[0].raisedOn '14/10/2026' is not a YYYY-MM-DD date",
    ),
    "no date": ("erin", _alert_change(raisedOn=None), "alerts[0].raisedOn is empty"),
}


@pytest.mark.parametrize("case", list(UNUSABLE))
def test_an_answer_of_the_wrong_shape_is_unusable(case: str) -> None:
    # Given the scheme answers with something other than what was asked for
    key, mutate, message = UNUSABLE[case]
    answer = mutate(copy.deepcopy(recorded_answer(key)))

    # When a search runs
    with pytest.raises(UnusableResponse) as info:
        run_with_answer(answer)

    # Then it is an unusable response naming what was wrong (never a KeyError)
    assert message in str(info.value)


@pytest.mark.parametrize("key", ["alice", "erin", "default"])
def test_the_recorded_answers_themselves_are_usable(key: str) -> None:
    # Guards the mutation tests above: only the mutation makes those answers unusable.
    assert run_with_answer(recorded_answer(key)).client_ref == SENT_REF


@pytest.mark.parametrize("code", ["fraudulent", "chargeback", "suspect"])
@pytest.mark.parametrize("identifier", ["address", "email", "ip", "device"])
def test_every_documented_code_and_identifier_type_is_read(code: str, identifier: str) -> None:
    answer = recorded_answer("erin")
    answer["alerts"][0].update(code=code, identifierType=identifier)
    (alert,) = run_with_answer(answer).alerts
    assert (alert.code, alert.identifier) == (code, identifier)
