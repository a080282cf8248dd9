"""The Equifax adapter against the sandbox: wire format, personas, token flow, errors, faults.

Every test builds its own sandbox (no network) through the adapter harness, with tiny
backoffs so quick retries cost milliseconds.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import uuid
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from adapters.equifax import EquifaxAdapter
from adapters.equifax.wire import (
    REPORT_PATH,
    SCOPE,
    TOKEN_PATH,
    build_report_body,
    describe_error,
    from_efx_date,
    months_before,
    parse_token,
    score_band,
    wire_address,
)
from adapters.simulators.equifax import EquifaxSimulator
from agencies.auth import BearerTokenAuth
from agencies.config import Agencies, AgencySettings, build_agencies
from agencies.contract import Address, CreditResult, ScoreBand, SearchType
from agencies.errors import (
    AgencyError,
    AuthenticationFailed,
    PermanentAgencyError,
    TransientAgencyError,
    UnusableResponse,
)
from agencies.http import AgencyClient
from agencies.sandbox import Sandbox, default_fixtures, parse_faults
from fixtures import FIXTURES_DIR
from tests.adapter_harness import (
    FAST,
    build,
    json_of,
    run_searches,
    sandbox_of,
    search_request,
    sent,
)

AGENCY = "equifax"
SANDBOX_CREDENTIALS = {name: "sandbox" for name in EquifaxAdapter.credential_names}


def search(agencies: Agencies, *requests: Any) -> list[CreditResult]:
    """Run Equifax searches in one event loop and return the credit results."""
    results = run_searches(agencies, AGENCY, *requests)
    assert all(isinstance(r, CreditResult) for r in results)
    return [r for r in results if isinstance(r, CreditResult)]


def token_auth(agencies: Agencies) -> BearerTokenAuth:
    """The token flow of the Equifax client."""
    auth = agencies[AGENCY].client.auth
    assert isinstance(auth, BearerTokenAuth)
    return auth


def own_adapter(
    sandbox: Sandbox,
    credentials: Mapping[str, str],
    clock: Callable[[], float] | None = None,
) -> EquifaxAdapter:
    """An Equifax adapter on the sandbox with chosen credentials (and clock for its tokens)."""
    base = EquifaxAdapter.sandbox_base_url
    auth = (
        EquifaxAdapter.make_auth(base, credentials)
        if clock is None
        else EquifaxAdapter.make_auth(base, credentials, clock=clock)
    )
    client = AgencyClient(
        AGENCY,
        httpx.AsyncClient(base_url=base, transport=sandbox.transport()),
        EquifaxAdapter.default_policy().with_overrides(**FAST),
        auth=auth,
        credentials=credentials,
    )
    return EquifaxAdapter(client)


# -- personas -------------------------------------------------------------------------------

#: persona -> (band, score, verified, CCJs, insolvency, defaults, hard 3m, hard 12m,
#: fraud markers)
PERSONA_OUTCOMES: dict[str | None, tuple[Any, ...]] = {
    "alice": (ScoreBand.EXCELLENT, 948, True, 0, False, 0, 0, 1, ()),
    "bob": (ScoreBand.POOR, 482, False, 0, False, 0, 0, 0, ()),
    "carol": (ScoreBand.VERY_POOR, 312, True, 2, True, 3, 1, 4, ()),
    "dan": (ScoreBand.FAIR, 655, True, 0, False, 0, 1, 3, ()),
    "erin": (ScoreBand.GOOD, 760, True, 0, False, 0, 0, 2, ()),
    "frank": (ScoreBand.GOOD, 780, True, 0, False, 0, 0, 1, ()),
    "grace": (ScoreBand.VERY_POOR, 402, True, 0, True, 1, 0, 1, ()),
    "hana": (
        ScoreBand.GOOD,
        790,
        True,
        0,
        False,
        0,
        0,
        1,
        ("Cifas Protective Registration",),
    ),
    "ivan": (ScoreBand.GOOD, 745, True, 0, False, 0, 9, 12, ()),
    None: (ScoreBand.FAIR, 602, True, 0, False, 0, 0, 1, ()),
}


@pytest.mark.parametrize("key", list(PERSONA_OUTCOMES), ids=lambda k: k or "default")
def test_each_persona_maps_to_its_credit_result(key: str | None) -> None:
    # Given the sandbox and a persona (or an applicant who matches none)
    agencies = build(AGENCY)

    # When Equifax is searched for them
    (result,) = search(agencies, search_request(key, client_ref=f"CHK-{key}"))

    # Then the contract values tell the persona's story
    assert (
        result.score_band,
        result.score,
        result.identity_verified,
        result.judgments,
        result.insolvency_current,
        result.defaults,
        result.hard_searches_3m,
        result.hard_searches_12m,
        result.fraud_markers,
    ) == PERSONA_OUTCOMES[key]
    assert result.agency == AGENCY
    assert result.client_ref == f"CHK-{key}"
    assert result.agency_ref.startswith("EFXUK")


def test_every_persona_has_an_equifax_fixture() -> None:
    keys = {p.key for p in default_fixtures().personas} | {"default"}
    assert keys <= {p.stem for p in (FIXTURES_DIR / AGENCY).glob("*.json")}


@pytest.mark.parametrize(
    ("score", "band"),
    [
        (1000, ScoreBand.EXCELLENT),
        (811, ScoreBand.EXCELLENT),
        (810, ScoreBand.GOOD),
        (671, ScoreBand.GOOD),
        (670, ScoreBand.FAIR),
        (531, ScoreBand.FAIR),
        (530, ScoreBand.POOR),
        (439, ScoreBand.POOR),
        (438, ScoreBand.VERY_POOR),
        (0, ScoreBand.VERY_POOR),
    ],
)
def test_equifax_scores_fall_into_bands_at_the_documented_boundaries(
    score: int, band: ScoreBand
) -> None:
    assert score_band(score) is band


# -- the request on the wire ----------------------------------------------------------------


def test_report_request_on_the_wire_has_the_equifax_shape() -> None:
    # Given the sandbox
    agencies = build(AGENCY)

    # When Alice is searched
    search(agencies, search_request("alice", client_ref="CHK-42"))

    # Then Equifax received one POST with a bearer token, a correlation id and the body
    (report_call,) = sent(agencies, AGENCY, REPORT_PATH)
    assert report_call.method == "POST"
    assert report_call.headers["authorization"].startswith("Bearer sandbox-efx-")
    assert uuid.UUID(report_call.headers["efx-client-correlation-id"]).version == 4
    assert json_of(report_call) == {
        "consumers": {
            "name": [
                {
                    "identifier": "current",
                    "firstName": "Alice",
                    "middleName": "",
                    "lastName": "Clean",
                }
            ],
            "dateOfBirth": "01011980",
            "addresses": [
                {
                    "identifier": "current",
                    "houseNumber": "10",
                    "streetName": "High Street",
                    "city": "Leeds",
                    "zip": "LS1 4AP",
                },
                {
                    "identifier": "former",
                    "houseNumber": "4",
                    "streetName": "Mill Lane",
                    "city": "York",
                    "zip": "YO1 7HH",
                },
            ],
        },
        "customerReferenceIdentifier": "CHK-42",
        "customerConfiguration": {
            "memberNumber": "sandbox",
            "securityCode": "sandbox",
            "endUserInformation": {"permissiblePurposeCode": "CA"},
            "models": [{"identifier": "UKCS1000"}],
        },
    }


@pytest.mark.parametrize(
    ("line1", "line2", "expected"),
    [
        ("10 High Street", "", {"houseNumber": "10", "streetName": "High Street"}),
        ("10a High Street", "", {"houseNumber": "10a", "streetName": "High Street"}),
        ("10-12 High Street", "", {"houseNumber": "10-12", "streetName": "High Street"}),
        (
            "10 High Street",
            "Headingley",
            {"houseNumber": "10", "streetName": "High Street", "locality": "Headingley"},
        ),
        (
            "Rose Cottage",
            "4 Mill Lane",
            {"houseName": "Rose Cottage", "houseNumber": "4", "streetName": "Mill Lane"},
        ),
        (
            "Flat 2, Mill House",
            "Mill Lane",
            {"houseName": "Flat 2, Mill House", "streetName": "Mill Lane"},
        ),
        ("Rose Cottage", "", {"houseName": "Rose Cottage"}),
    ],
)
def test_house_numbers_and_names_land_in_their_own_fields(
    line1: str, line2: str, expected: dict[str, str]
) -> None:
    address = Address(
        line1=line1, line2=line2, town="Leeds", postcode="LS1 4AP", from_date=date(2020, 1, 1)
    )
    assert wire_address(address, "current") == {
        "identifier": "current",
        **expected,
        "city": "Leeds",
        "zip": "LS1 4AP",
    }


def test_the_date_of_birth_is_sent_day_first() -> None:
    body = build_report_body(
        search_request("ivan"), member_number="M1", security_code="S1", purpose_code="CA"
    )
    assert body["consumers"]["dateOfBirth"] == "02021992"
    assert from_efx_date("02021992") == date(1992, 2, 2)


@pytest.mark.parametrize(
    ("search_type", "purpose", "code", "footprint"),
    [
        (SearchType.HARD, "new_order", "CA", "hard"),
        (SearchType.HARD, "upgrade", "CA", "hard"),
        (SearchType.SOFT, "quotation", "QS", "soft"),
        (SearchType.SOFT, "renewal", "QS", "soft"),
        (SearchType.SOFT, "in_life", "AM", "soft"),
    ],
)
def test_search_type_chooses_the_permissible_purpose_code(
    search_type: SearchType, purpose: str, code: str, footprint: str
) -> None:
    # Given a search of one type for one purpose
    agencies = build(AGENCY)
    request = search_request(search_type=search_type).model_copy(update={"purpose": purpose})

    # When it runs
    ledger_code = agencies[AGENCY].purpose_code(request)
    search(agencies, request)

    # Then the ledger code, the wire code and the sandbox's footprint agree
    assert ledger_code == code
    (report_call,) = sent(agencies, AGENCY, REPORT_PATH)
    wire = json_of(report_call)["customerConfiguration"]["endUserInformation"]
    assert wire == {"permissiblePurposeCode": code}
    (recorded,) = sandbox_of(agencies).calls_to(AGENCY, "search")
    assert recorded.search_type == footprint


def test_a_fraud_search_is_refused_before_anything_is_sent() -> None:
    agencies = build(AGENCY)
    with pytest.raises(PermanentAgencyError) as info:
        search(agencies, search_request(search_type=SearchType.FRAUD))
    assert info.value.sent is False
    assert info.value.code == "unsupported_search"
    assert sandbox_of(agencies).calls_to(AGENCY) == []


def test_the_same_client_reference_twice_is_one_footprint() -> None:
    # Given the sandbox
    agencies = build(AGENCY)
    sandbox = sandbox_of(agencies)

    # When the same step's search is sent twice (say, after a crash)
    first, second = search(
        agencies, search_request(client_ref="CHK-5"), search_request(client_ref="CHK-5")
    )

    # Then Equifax saw two calls, recorded one search, and gave the same report reference
    assert len(sandbox.calls_to(AGENCY, "search")) == 2
    assert sandbox.footprints(AGENCY) == {"CHK-5"}
    assert first.agency_ref == second.agency_ref


# -- token ----------------------------------------------------------------------------------


def test_token_request_is_form_encoded_client_credentials_with_basic_auth() -> None:
    # Given the sandbox
    agencies = build(AGENCY)

    # When a search runs
    search(agencies, search_request())

    # Then the token call carried the grant and scope as a form, the client as HTTP Basic
    (token_call,) = sent(agencies, AGENCY, TOKEN_PATH)
    assert token_call.method == "POST"
    assert token_call.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(token_call.content.decode()) == {
        "grant_type": ["client_credentials"],
        "scope": [SCOPE],
    }
    scheme, _, encoded = token_call.headers["authorization"].partition(" ")
    assert (scheme, base64.b64decode(encoded).decode()) == ("Basic", "sandbox:sandbox")


def test_token_is_fetched_once_and_reused_across_searches() -> None:
    # Given the sandbox
    agencies = build(AGENCY)
    sandbox = sandbox_of(agencies)

    # When three searches run
    search(
        agencies,
        search_request(client_ref="A"),
        search_request(client_ref="B"),
        search_request(client_ref="C"),
    )

    # Then one token served all three
    assert token_auth(agencies).token_requests == 1
    assert len(sandbox.calls_to(AGENCY, "token")) == 1
    tokens = {r.headers["authorization"] for r in sent(agencies, AGENCY, REPORT_PATH)}
    assert len(tokens) == 1


def test_token_is_reused_until_a_minute_before_its_stated_expiry() -> None:
    # Given an Equifax client whose token clock we control (the sandbox grants 3600 s)
    agencies = build(AGENCY)
    now = [1000.0]
    adapter = own_adapter(sandbox_of(agencies), SANDBOX_CREDENTIALS, clock=lambda: now[0])
    auth = adapter.client.auth
    assert isinstance(auth, BearerTokenAuth)
    requests_seen: list[int] = []

    # When searches run at 0 s, 3539 s and 3540 s after the token was issued
    async def go() -> None:
        try:
            for i, at in enumerate((1000.0, 4539.0, 4540.0)):
                now[0] = at
                await adapter.search(search_request(client_ref=f"T-{i}"))
                requests_seen.append(auth.token_requests)
        finally:
            await adapter.client.http.aclose()
            await agencies.aclose()

    asyncio.run(go())

    # Then the token was reused until the 60 s refresh margin, then replaced once
    assert requests_seen == [1, 1, 2]


def test_wrong_client_credentials_fail_authentication_without_searching() -> None:
    # Given an Equifax client whose client secret is not the sandbox's
    agencies = build(AGENCY)
    sandbox = sandbox_of(agencies)
    adapter = own_adapter(sandbox, {**SANDBOX_CREDENTIALS, "client_secret": "wrong"})
    auth = adapter.client.auth
    assert isinstance(auth, BearerTokenAuth)

    async def go() -> None:
        try:
            await adapter.search(search_request())
        finally:
            await adapter.client.http.aclose()
            await agencies.aclose()

    # When a search runs
    with pytest.raises(AuthenticationFailed) as info:
        asyncio.run(go())

    # Then the token call was refused, never looped, and no report was requested
    assert auth.token_requests <= 2
    assert "token request refused with HTTP 401" in str(info.value)
    assert info.value.sent is False
    assert {c.status for c in sandbox.calls_to(AGENCY, "token")} == {401}
    assert sandbox.calls_to(AGENCY, "search") == []


def test_http401_on_the_report_refreshes_the_token_once_then_fails() -> None:
    # Given Equifax rejects every report request with 401
    agencies = build(AGENCY, faults="equifax=http401")

    # When a search runs
    with pytest.raises(AuthenticationFailed) as info:
        search(agencies, search_request())

    # Then exactly one refresh was tried, and the error carries Equifax's code
    assert token_auth(agencies).token_requests == 2
    assert "HTTP 401: credentials rejected: 401.01 Invalid or expired access token" in str(
        info.value
    )


def test_a_wrong_member_number_is_access_denied() -> None:
    # Given a client whose token is fine but whose member number Equifax does not know
    agencies = build(AGENCY)
    adapter = own_adapter(sandbox_of(agencies), {**SANDBOX_CREDENTIALS, "member_number": "999"})

    async def go() -> None:
        try:
            await adapter.search(search_request())
        finally:
            await adapter.client.http.aclose()
            await agencies.aclose()

    # When a search runs / Then Equifax's 403.01 ends it as an authentication failure
    with pytest.raises(AuthenticationFailed) as info:
        asyncio.run(go())
    assert "HTTP 403" in str(info.value) and "403.01 Access denied" in str(info.value)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"access_token": "abc", "token_type": "Bearer", "expires_in": 3600}, ("abc", 3600.0)),
        ({"access_token": "abc", "token_type": "bearer", "expires_in": "3599"}, ("abc", 3599.0)),
    ],
)
def test_token_answer_lifetime_is_read_from_expires_in(
    answer: dict[str, Any], expected: tuple[str, float]
) -> None:
    assert parse_token(httpx.Response(200, json=answer)) == expected


@pytest.mark.parametrize(
    "answer",
    [
        {"expires_in": 3600},
        {"access_token": "abc"},
        {"access_token": "abc", "expires_in": 0},
        {"access_token": "abc", "expires_in": True},
        {"access_token": "abc", "expires_in": 3600, "token_type": "MAC"},
        ["abc"],
    ],
    ids=["no token", "no lifetime", "zero lifetime", "boolean lifetime", "not bearer", "list"],
)
def test_an_unreadable_token_answer_is_rejected(answer: Any) -> None:
    with pytest.raises(ValueError):
        parse_token(httpx.Response(200, json=answer))


# -- counting hard searches from their dates ------------------------------------------------


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2026, 11, 23), 3, date(2026, 8, 23)),
        (date(2026, 11, 23), 12, date(2025, 11, 23)),
        (date(2026, 5, 31), 3, date(2026, 2, 28)),
        (date(2028, 5, 31), 3, date(2028, 2, 29)),
        (date(2026, 2, 15), 3, date(2025, 11, 15)),
    ],
)
def test_months_before_counts_calendar_months(day: date, months: int, expected: date) -> None:
    assert months_before(day, months) == expected


def test_hard_searches_are_counted_in_windows_that_include_their_first_day() -> None:
    # Given a report dated 23 Nov 2026 whose footprints straddle both window edges
    answer = recorded_answer()
    report(answer)["searches"] = [
        {"searchDate": "23082026", "type": "HARD"},  # first day of the 3-month window
        {"searchDate": "22082026", "type": "HARD"},  # just outside it, inside 12 months
        {"searchDate": "23112025", "type": "hard"},  # first day of the 12-month window
        {"searchDate": "22112025", "type": "HARD"},  # just outside 12 months
        {"searchDate": "20112026", "type": "SOFT"},  # soft footprints never count
    ]

    # When the answer is read
    result = run_with_answer(answer)

    # Then each edge falls on the documented side
    assert (result.hard_searches_3m, result.hard_searches_12m) == (1, 3)


# -- the error envelope ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "400.01"),
        (401, "401.01"),
        (403, "403.01"),
        (429, "429.01"),
        (500, "500.01"),
        (503, "503.01"),
        (504, "504.01"),
    ],
)
def test_sandbox_errors_come_in_the_equifax_envelope(status: int, code: str) -> None:
    # Given the error the sandbox injects for a status
    envelope = json.loads(EquifaxSimulator().error_body(status))

    # Then it is Equifax's envelope, and describe_error reads its code and description
    assert set(envelope) == {"efxErrorCode", "description", "additionalErrorDetails"}
    assert envelope["efxErrorCode"] == code
    details = envelope["additionalErrorDetails"]
    assert set(details) == {"status", "code", "message", "timeStamp"}
    assert details["status"] == status and details["timeStamp"].endswith("+00:00")
    described = describe_error(httpx.Response(status, json=envelope))
    assert described.startswith(f"{code} {envelope['description']}")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {
                "efxErrorCode": "400.02",
                "description": "Invalid request",
                "additionalErrorDetails": {"message": "lastName is required"},
            },
            "400.02 Invalid request: lastName is required",
        ),
        (
            {
                "efxErrorCode": "503.01",
                "description": "Service unavailable",
                "additionalErrorDetails": {"message": "Service unavailable"},
            },
            "503.01 Service unavailable",
        ),
        (
            {"error": "invalid_client", "error_description": "Client authentication failed"},
            "invalid_client: Client authentication failed",
        ),
        ({"unexpected": True}, ""),
        (["not", "an", "object"], ""),
    ],
    ids=["envelope with detail", "envelope repeating itself", "oauth error", "other", "list"],
)
def test_describe_error_reads_equifax_and_oauth_errors(body: Any, expected: str) -> None:
    assert describe_error(httpx.Response(400, json=body)) == expected


def test_describe_error_of_a_body_that_is_not_json_is_empty() -> None:
    assert describe_error(httpx.Response(502, content=b"<html>Bad gateway</html>")) == ""


# -- faults ---------------------------------------------------------------------------------

FaultCase = tuple[str, Mapping[str, float | int], type[AgencyError], str, str]

FAULTS: list[FaultCase] = [
    ("timeout", {}, TransientAgencyError, "agency_timeout", "timed out"),
    ("http500", {}, TransientAgencyError, "agency_unavailable", "HTTP 500: 500.01 Internal"),
    ("http503", {}, TransientAgencyError, "agency_unavailable", "HTTP 503 service unavailable"),
    (
        "http429",
        {"max_retry_after": 0},
        TransientAgencyError,
        "agency_rate_limited",
        "HTTP 429 too many requests: 429.01 Too many requests",
    ),
    ("http401", {}, AuthenticationFailed, "agency_auth_failed", "credentials rejected"),
    ("garbage", {}, UnusableResponse, "agency_bad_response", "body is not JSON"),
    ("truncated", {}, UnusableResponse, "agency_bad_response", "body is not JSON"),
    (
        "slow:300",
        {"connect_timeout": 0.05, "read_timeout": 0.05, "quick_retries": 0},
        TransientAgencyError,
        "agency_timeout",
        "no answer within 0.1s",
    ),
    ("flaky:3", {}, TransientAgencyError, "agency_unavailable", "503.01 Service unavailable"),
]


@pytest.mark.parametrize(
    ("fault", "policy", "error", "code", "message"), FAULTS, ids=[f[0] for f in FAULTS]
)
def test_each_sandbox_fault_raises_the_matching_agency_error(
    fault: str,
    policy: Mapping[str, float | int],
    error: type[AgencyError],
    code: str,
    message: str,
) -> None:
    # Given Equifax answers with a fault
    agencies = build_agencies(
        AgencySettings(
            policy_overrides={AGENCY: {**FAST, **policy}},
            faults=parse_faults(f"equifax={fault}"),
        )
    )

    # When a search runs
    with pytest.raises(AgencyError) as info:
        search(agencies, search_request())

    # Then the error is of the right class, with a stable code and a clear message
    assert type(info.value) is error
    assert info.value.code == code
    assert message in str(info.value)
    assert str(info.value).startswith("equifax: ")


def test_a_timed_out_search_is_retried_with_the_same_client_reference() -> None:
    # Given Equifax produces the report but the answer is lost
    agencies = build(AGENCY, faults="equifax=timeout")
    sandbox = sandbox_of(agencies)

    # When a search runs (and its quick retries)
    with pytest.raises(TransientAgencyError):
        search(agencies, search_request(client_ref="CHK-9"))

    # Then every try carried the same reference, so Equifax recorded one footprint
    searches = sandbox.calls_to(AGENCY, "search")
    assert [c.client_ref for c in searches] == ["CHK-9"] * 3
    assert sandbox.footprints(AGENCY) == {"CHK-9"}


# -- answers the adapter must not use -------------------------------------------------------

SENT_REF = "CHK-1:equifax:applicant"


def recorded_answer() -> dict[str, Any]:
    """Alice's fixture as the sandbox would send it."""
    answer: dict[str, Any] = json.loads(
        (FIXTURES_DIR / AGENCY / "alice.json").read_text(encoding="utf-8")
    )
    report(answer).update(customerReferenceNumber=SENT_REF, reportReference="EFXUK000000000001")
    return answer


def report(answer: dict[str, Any]) -> dict[str, Any]:
    """The first report of an answer."""
    first: dict[str, Any] = answer["consumers"]["equifaxUKConsumerCreditReport"][0]
    return first


def run_with_answer(answer: Any) -> CreditResult:
    """Search once against an Equifax that always answers ``answer`` (no token flow)."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "application/json"}, json=answer)

    adapter = EquifaxAdapter(
        AgencyClient(
            AGENCY,
            httpx.AsyncClient(
                base_url=EquifaxAdapter.sandbox_base_url, transport=httpx.MockTransport(handler)
            ),
            EquifaxAdapter.default_policy().with_overrides(**FAST),
        )
    )

    async def go() -> CreditResult:
        try:
            result = await adapter.search(search_request(client_ref=SENT_REF))
            # search() returns any contract result; this agency's is a CreditResult.
            assert isinstance(result, CreditResult)
            return result
        finally:
            await adapter.client.http.aclose()

    return asyncio.run(go())


Mutation = Callable[[dict[str, Any]], Any]


def _set(**changes: Any) -> Mutation:
    return lambda a: report(a).update(changes) or a


def _drop(key: str) -> Mutation:
    return lambda a: (report(a).pop(key), a)[1]


UNUSABLE: dict[str, tuple[Mutation, str]] = {
    "not an object": (lambda a: [a], "answer is not an object"),
    "not completed": (lambda a: a.update(status="pending") or a, "status is 'pending'"),
    "no consumers": (lambda a: (a.pop("consumers"), a)[1], "answer.consumers is missing"),
    "no reports": (
        lambda a: a["consumers"].update(equifaxUKConsumerCreditReport=[]) or a,
        "equifaxUKConsumerCreditReport is empty",
    ),
    "another customerReferenceNumber": (
        _set(customerReferenceNumber="CHK-OTHER"),
        "answer is for customerReferenceNumber 'CHK-OTHER'",
    ),
    "empty reportReference": (_set(reportReference=""), "reportReference is empty"),
    "report date not DDMMYYYY": (_set(reportDate="2026-11-23"), "is not a DDMMYYYY date"),
    "no score model": (_set(models=[{"type": "RISK", "score": 5}]), "has no SCORE model"),
    "score off the scale": (_set(models=[{"type": "SCORE", "score": 1200}]), "outside 0-1000"),
    "score not a number": (
        _set(models=[{"type": "SCORE", "score": "high"}]),
        "score is not a whole number",
    ),
    "no identity scan": (_drop("identityScan"), "identityScan is missing"),
    "unknown identity result": (
        _set(identityScan={"result": "MAYBE"}),
        "identityScan.result 'MAYBE' is not PASS",
    ),
    "judgments missing": (_drop("courtJudgments"), "courtJudgments is missing"),
    "defaults not a list": (_set(defaults={}), "defaults is not a list"),
    "unknown insolvency status": (
        _set(insolvencies=[{"type": "IVA", "status": "pending review"}]),
        "is not a known insolvency status",
    ),
    "searches missing": (_drop("searches"), "searches is missing"),
    "unknown search type": (
        _set(searches=[{"searchDate": "01112026", "type": "MEDIUM"}]),
        "is neither HARD nor SOFT",
    ),
    "bad search date": (
        _set(searches=[{"searchDate": "31022026", "type": "HARD"}]),
        "'31022026' is not a DDMMYYYY date",
    ),
    "notices of correction missing": (
        _drop("noticesOfCorrection"),
        "noticesOfCorrection is missing",
    ),
    "deceased indicator not a flag": (
        _set(identityScan={"result": "PASS", "deceasedIndicator": "no"}),
        "deceasedIndicator is not true or false",
    ),
    "cifas markers missing": (_drop("cifasMarkers"), "cifasMarkers is missing"),
    "cifas marker without a type": (_set(cifasMarkers=[{"type": ""}]), "type is empty"),
}


@pytest.mark.parametrize("case", list(UNUSABLE))
def test_an_answer_of_the_wrong_shape_is_unusable(case: str) -> None:
    # Given Equifax answers with something other than a usable report
    mutate, message = UNUSABLE[case]
    answer = mutate(copy.deepcopy(recorded_answer()))

    # When a search runs
    with pytest.raises(UnusableResponse) as info:
        run_with_answer(answer)

    # Then it is an unusable response naming what was wrong (never a KeyError)
    assert message in str(info.value)


def test_the_recorded_answer_itself_is_usable() -> None:
    # Guards the mutation tests above: only the mutation makes those answers unusable.
    result = run_with_answer(recorded_answer())
    assert (result.score, result.agency_ref) == (948, "EFXUK000000000001")


# -- the sandbox's Equifax ------------------------------------------------------------------


def sandbox_post(
    path: str, headers: Mapping[str, str], *, json_body: Any = None, content: bytes | None = None
) -> httpx.Response:
    """POST straight to the sandbox's Equifax, bypassing the adapter and its token flow."""
    agencies = build(AGENCY)

    async def go() -> httpx.Response:
        try:
            http = agencies[AGENCY].client.http
            return await http.post(path, json=json_body, content=content, headers=headers)
        finally:
            await agencies.aclose()

    return asyncio.run(go())


def test_sandbox_refuses_a_report_without_a_bearer_token_as_a_missing_parameter() -> None:
    response = sandbox_post(REPORT_PATH, {}, json_body={})
    assert response.status_code == 401
    assert describe_error(response) == (
        "401.03 Missing mandatory parameter: Authorization header is required"
    )


def test_sandbox_answers_400_01_to_a_body_that_is_not_json() -> None:
    response = sandbox_post(
        REPORT_PATH, {"Authorization": "Bearer sandbox-efx-1"}, content=b"{not json"
    )
    assert response.status_code == 400
    assert describe_error(response).startswith("400.01 Invalid JSON")


def test_sandbox_answers_400_02_naming_an_unknown_purpose_code() -> None:
    body = build_report_body(
        search_request(), member_number="sandbox", security_code="sandbox", purpose_code="ZZ"
    )
    response = sandbox_post(REPORT_PATH, {"Authorization": "Bearer sandbox-efx-1"}, json_body=body)
    assert response.status_code == 400
    assert describe_error(response) == "400.02 Invalid request: Unknown permissiblePurposeCode 'ZZ'"


def test_sandbox_token_answer_has_the_documented_fields() -> None:
    basic = base64.b64encode(b"sandbox:sandbox").decode()
    response = sandbox_post(
        TOKEN_PATH,
        {
            "Authorization": f"Basic {basic}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        content=f"grant_type=client_credentials&scope={SCOPE}".encode(),
    )
    assert response.status_code == 200
    answer = response.json()
    assert set(answer) == {"access_token", "token_type", "expires_in", "issued_at", "scope"}
    assert (answer["token_type"], answer["expires_in"], answer["scope"]) == (
        "Bearer",
        3600,
        SCOPE,
    )


def test_sandbox_token_endpoint_refuses_another_grant_in_oauth_format() -> None:
    basic = base64.b64encode(b"sandbox:sandbox").decode()
    response = sandbox_post(
        TOKEN_PATH,
        {
            "Authorization": f"Basic {basic}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        content=b"grant_type=password&scope=x",
    )
    assert response.status_code == 400
    assert describe_error(response).startswith("unsupported_grant_type")
