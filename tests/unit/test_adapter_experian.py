"""The Experian adapter against the sandbox: wire format, personas, token reuse and faults.

Every test builds its own sandbox through the adapter harness (no network) with tiny backoffs,
so quick retries cost milliseconds.
"""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any, cast

import httpx
import pytest

from adapters.experian import ExperianAdapter
from adapters.experian.wire import (
    CHECK_PATH,
    TOKEN_PATH,
    build_check_body,
    describe_error,
    parse_token,
    score_band,
    wire_address,
)
from agencies.auth import BearerTokenAuth
from agencies.config import Agencies
from agencies.contract import (
    Address,
    CreditResult,
    Person,
    Role,
    ScoreBand,
    SearchRequest,
    SearchType,
)
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
from tests import adapter_harness
from tests.adapter_harness import FAST, run_searches, sandbox_of, sent

#: Experian's wire format splits house numbers from streets, so the second address has a
#: building name and a second line.
ADDRESSES = (
    Address(line1="10 High Street", town="Leeds", postcode="LS1 4AP", from_date=date(2021, 6, 1)),
    Address(
        line1="Rose Cottage",
        line2="4 Mill Lane",
        town="York",
        postcode="YO1 7HH",
        from_date=date(2016, 2, 1),
        to_date=date(2021, 5, 31),
    ),
)


def build(**policy: float | int) -> Agencies:
    """Sandboxed agencies with fast quick retries and any policy changes for Experian."""
    return adapter_harness.build("experian", faults=None, latency=None, **policy)


def person(key: str | None) -> Person:
    """The persona with that key (with a middle name), or (None) an applicant who matches no
    persona; both at :data:`ADDRESSES`."""
    changes: dict[str, Any] = {"addresses": ADDRESSES}
    if key is not None:
        changes["middle_names"] = "Q"
    return adapter_harness.person(key).model_copy(update=changes)


def search_request(
    key: str | None = "alice",
    *,
    client_ref: str = "CHK-1:experian:applicant",
    search_type: SearchType = SearchType.HARD,
    product_code: str = "MOBILE-24M",
    role: Role = Role.APPLICANT,
) -> SearchRequest:
    """A credit search for one persona."""
    request = adapter_harness.search_request(
        key, client_ref=client_ref, search_type=search_type, product_code=product_code, role=role
    )
    return request.model_copy(update={"person": person(key)})


def search(agencies: Agencies, *requests: SearchRequest) -> list[CreditResult]:
    """Run the searches one after another in one event loop, then close the clients."""
    results = run_searches(agencies, "experian", *requests)
    assert all(isinstance(r, CreditResult) for r in results)
    return cast(list[CreditResult], results)


def token_auth(agencies: Agencies) -> BearerTokenAuth:
    """The token flow of the Experian client."""
    auth = agencies["experian"].client.auth
    assert isinstance(auth, BearerTokenAuth)
    return auth


# -- personas -------------------------------------------------------------------------------

#: persona -> (band, score, verified, CCJs, insolvency, defaults, hard 3m, hard 12m,
#: fraud markers)
PERSONA_OUTCOMES: dict[str | None, tuple[Any, ...]] = {
    "alice": (ScoreBand.EXCELLENT, 982, True, 0, False, 0, 0, 1, ()),
    "bob": (ScoreBand.POOR, 604, False, 0, False, 0, 0, 0, ()),
    "carol": (ScoreBand.VERY_POOR, 389, True, 2, True, 3, 1, 4, ()),
    "dan": (ScoreBand.FAIR, 867, True, 0, False, 0, 1, 3, ()),
    "erin": (ScoreBand.GOOD, 905, True, 0, False, 0, 0, 2, ()),
    "frank": (ScoreBand.GOOD, 912, True, 0, False, 0, 0, 1, ()),
    "grace": (ScoreBand.VERY_POOR, 512, True, 0, True, 1, 0, 1, ()),
    "hana": (
        ScoreBand.GOOD,
        934,
        True,
        0,
        False,
        0,
        0,
        1,
        ("CIFAS_PROTECTIVE_REGISTRATION",),
    ),
    "ivan": (ScoreBand.GOOD, 902, True, 0, False, 0, 9, 12, ()),
    None: (ScoreBand.FAIR, 800, True, 0, False, 0, 0, 1, ()),
}


@pytest.mark.parametrize("key", list(PERSONA_OUTCOMES), ids=lambda k: k or "default")
def test_each_persona_maps_to_its_credit_result(key: str | None) -> None:
    # Given the sandbox and a persona (or an applicant who matches none)
    agencies = build()

    # When Experian is searched for them
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
    assert result.agency == "experian"
    assert result.client_ref == f"CHK-{key}"
    assert result.agency_ref.startswith("RB")


def test_every_persona_has_an_experian_fixture() -> None:
    # Given the persona catalogue
    keys = {p.key for p in default_fixtures().personas} | {"default"}

    # Then each has a recorded Experian answer
    assert keys <= {p.stem for p in (FIXTURES_DIR / "experian").glob("*.json")}


@pytest.mark.parametrize(
    ("score", "band"),
    [
        (999, ScoreBand.EXCELLENT),
        (961, ScoreBand.EXCELLENT),
        (960, ScoreBand.GOOD),
        (881, ScoreBand.GOOD),
        (880, ScoreBand.FAIR),
        (721, ScoreBand.FAIR),
        (720, ScoreBand.POOR),
        (561, ScoreBand.POOR),
        (560, ScoreBand.VERY_POOR),
        (0, ScoreBand.VERY_POOR),
    ],
)
def test_experian_scores_fall_into_bands_at_the_documented_boundaries(
    score: int, band: ScoreBand
) -> None:
    assert score_band(score) is band


# -- the request on the wire ----------------------------------------------------------------


def test_check_request_on_the_wire_has_the_crosscore_shape() -> None:
    # Given the sandbox
    agencies = build()

    # When Alice is searched
    search(agencies, search_request("alice", client_ref="CHK-42"))

    # Then Experian received one POST with a bearer token, a correlation id and the
    # documented header and payload
    (check,) = sent(agencies, "experian", CHECK_PATH)
    assert check.method == "POST"
    assert check.headers["authorization"].startswith("Bearer sandbox-token")
    assert uuid.UUID(check.headers["x-correlation-id"]).version == 4
    body = json.loads(check.content)
    header = body["header"]
    assert set(header) == {
        "tenantId",
        "requestType",
        "clientReferenceId",
        "expRequestId",
        "messageTime",
        "options",
    }
    assert header["tenantId"] == "sandbox"
    assert header["clientReferenceId"] == "CHK-42"
    assert header["expRequestId"] == ""
    assert header["options"] == {}
    assert datetime.fromisoformat(header["messageTime"]).tzinfo is not None
    assert body["payload"] == {
        "source": "WEB",
        "contacts": [
            {
                "id": "MAINCONTACT_1",
                "person": {
                    "personDetails": {"dateOfBirth": "1980-01-01"},
                    "names": [
                        {
                            "type": "CURRENT",
                            "firstName": "Alice",
                            "middleNames": "Q",
                            "surName": "Clean",
                        }
                    ],
                },
                "addresses": [
                    {
                        "id": "MAIN_ADDRESS_1",
                        "addressType": "CURRENT",
                        "buildingNumber": "10",
                        "street": "High Street",
                        "postTown": "Leeds",
                        "postal": "LS1 4AP",
                    },
                    {
                        "id": "MAIN_ADDRESS_2",
                        "addressType": "PREVIOUS",
                        "buildingName": "Rose Cottage",
                        # A house name with a numbered street: one splitting at every agency.
                        "buildingNumber": "4",
                        "street": "Mill Lane",
                        "postTown": "York",
                        "postal": "YO1 7HH",
                    },
                ],
            }
        ],
        "application": {
            "type": "TM",
            "applicants": [
                {
                    "id": "APPLICANT_1",
                    "contactId": "MAINCONTACT_1",
                    "applicantType": "APPLICANT",
                    "consent": True,
                }
            ],
            "productDetails": {"productCode": "MOBILE-24M"},
        },
    }


@pytest.mark.parametrize(
    ("line1", "line2", "expected"),
    [
        ("10 High Street", "", {"buildingNumber": "10", "street": "High Street"}),
        ("10a High Street", "", {"buildingNumber": "10a", "street": "High Street"}),
        ("10-12 High Street", "", {"buildingNumber": "10-12", "street": "High Street"}),
        (
            "10 High Street",
            "Headingley",
            {"buildingNumber": "10", "street": "High Street", "street2": "Headingley"},
        ),
        (
            "Flat 2, Mill House",
            "Mill Lane",
            {"buildingName": "Flat 2, Mill House", "street": "Mill Lane"},
        ),
        ("Rose Cottage", "", {"buildingName": "Rose Cottage"}),
    ],
)
def test_a_leading_house_number_is_split_from_the_street(
    line1: str, line2: str, expected: dict[str, str]
) -> None:
    # Given an address line
    address = Address(
        line1=line1, line2=line2, town="Leeds", postcode="LS1 4AP", from_date=date(2020, 1, 1)
    )

    # When it is put on the wire
    wire = wire_address(address, "CURRENT", 1)

    # Then the number, building name and street land in their own fields
    assert wire == {
        "id": "MAIN_ADDRESS_1",
        "addressType": "CURRENT",
        **expected,
        "postTown": "Leeds",
        "postal": "LS1 4AP",
    }


def test_a_joint_applicant_is_sent_as_co_applicant() -> None:
    body = build_check_body(
        search_request("grace", role=Role.JOINT),
        tenant_id="T1",
        application_type="TM",
        message_time="2026-11-23T10:00:00Z",
    )
    assert body["payload"]["application"]["applicants"][0]["applicantType"] == "CO_APPLICANT"


@pytest.mark.parametrize(
    ("search_type", "product_code", "code", "footprint"),
    [
        (SearchType.HARD, "MOBILE-24M", "TM", "hard"),
        (SearchType.HARD, "mobile-sim-only", "TM", "hard"),
        (SearchType.HARD, "BROADBAND-18M", "TF", "hard"),
        (SearchType.SOFT, "MOBILE-24M", "QT", "soft"),
        (SearchType.SOFT, "BROADBAND-18M", "QT", "soft"),
    ],
)
def test_search_type_and_product_choose_the_application_type(
    search_type: SearchType, product_code: str, code: str, footprint: str
) -> None:
    # Given a search of one type for one product
    agencies = build()
    sandbox = sandbox_of(agencies)
    request = search_request(search_type=search_type, product_code=product_code)

    # When it runs
    purpose = agencies["experian"].purpose_code(request)
    search(agencies, request)

    # Then the ledger code, the wire type and the sandbox's footprint agree
    assert purpose == code
    (check,) = sent(agencies, "experian", CHECK_PATH)
    assert json.loads(check.content)["payload"]["application"]["type"] == code
    (recorded,) = sandbox.calls_to("experian", "search")
    assert recorded.search_type == footprint


def test_a_fraud_search_is_refused_before_anything_is_sent() -> None:
    # Given a search type Experian does not run
    agencies = build()

    # When it is asked for
    with pytest.raises(PermanentAgencyError) as info:
        search(agencies, search_request(search_type=SearchType.FRAUD))

    # Then nothing reached Experian
    assert info.value.sent is False
    assert info.value.code == "unsupported_search"
    assert sandbox_of(agencies).calls_to("experian") == []


# -- token ----------------------------------------------------------------------------------


def test_token_is_fetched_once_and_reused_across_two_searches() -> None:
    # Given the sandbox
    agencies = build()
    sandbox = sandbox_of(agencies)

    # When two searches run
    search(agencies, search_request(client_ref="A"), search_request(client_ref="B"))

    # Then one token request with the four documented fields served both
    assert token_auth(agencies).token_requests == 1
    assert len(sandbox.calls_to("experian", "token")) == 1
    (token_call,) = sent(agencies, "experian", TOKEN_PATH)
    assert token_call.method == "POST"
    assert json.loads(token_call.content) == {
        "username": "sandbox",
        "password": "sandbox",
        "client_id": "sandbox",
        "client_secret": "sandbox",
    }
    first, second = sent(agencies, "experian", CHECK_PATH)
    assert first.headers["authorization"] == second.headers["authorization"]


def test_searches_that_start_together_share_one_token_request() -> None:
    # Given the sandbox, with a little latency so the searches overlap, and no token yet
    agencies = build()
    sandbox_of(agencies).set_latency({"experian": 20})
    requests = [search_request(client_ref=f"R{i}") for i in range(20)]

    # When twenty searches start at once
    async def together() -> list[Any]:
        try:
            return await asyncio.gather(*(agencies["experian"].search(r) for r in requests))
        finally:
            await agencies.aclose()

    results = asyncio.run(together())

    # Then all succeed on one token: the others waited for it instead of asking for their own
    assert all(isinstance(r, CreditResult) for r in results)
    assert token_auth(agencies).token_requests == 1
    assert len(sandbox_of(agencies).calls_to("experian", "token")) == 1


def test_token_answer_lifetime_is_read_from_expires_in() -> None:
    answer = httpx.Response(200, json={"access_token": "abc", "expires_in": "1800"})
    assert parse_token(answer) == ("abc", 1800.0)


@pytest.mark.parametrize(
    "answer",
    [
        {"expires_in": "1800"},
        {"access_token": "abc"},
        {"access_token": "abc", "expires_in": "0"},
        ["abc"],
    ],
    ids=["no token", "no lifetime", "zero lifetime", "not an object"],
)
def test_an_unreadable_token_answer_is_rejected(answer: Any) -> None:
    with pytest.raises(ValueError):
        parse_token(httpx.Response(200, json=answer))


def test_incomplete_credentials_fail_authentication_without_searching() -> None:
    # Given an Experian client whose credentials lack the password and client secret
    agencies = build()
    sandbox = sandbox_of(agencies)
    base = ExperianAdapter.sandbox_base_url
    credentials = {"username": "u", "client_id": "c", "tenant_id": "t"}
    client = AgencyClient(
        "experian",
        httpx.AsyncClient(base_url=base, transport=sandbox.transport()),
        ExperianAdapter.default_policy().with_overrides(**FAST),
        auth=ExperianAdapter.make_auth(base, credentials),
        credentials=credentials,
    )

    # When a search runs
    async def go() -> None:
        try:
            await ExperianAdapter(client).search(search_request())
        finally:
            await client.http.aclose()

    with pytest.raises(AuthenticationFailed) as info:
        asyncio.run(go())

    # Then the token call was refused once, and no search reached Experian
    assert "token request refused with HTTP 401" in str(info.value)
    assert [c.status for c in sandbox.calls_to("experian", "token")] == [401]
    assert sandbox.calls_to("experian", "search") == []


def test_http401_on_the_search_refreshes_the_token_once_then_fails() -> None:
    # Given Experian rejects every search with 401
    agencies = build()
    sandbox = sandbox_of(agencies)
    sandbox.set_faults("experian=http401")

    # When a search runs
    with pytest.raises(AuthenticationFailed) as info:
        search(agencies, search_request())

    # Then exactly one refresh was tried (two token requests), and the error says why
    assert token_auth(agencies).token_requests == 2
    assert len(sandbox.calls_to("experian", "token")) == 2
    assert "HTTP 401: credentials rejected" in str(info.value)
    assert "Invalid or expired access token" in str(info.value)


# -- faults ---------------------------------------------------------------------------------

FaultCase = tuple[str, Mapping[str, float | int], type[AgencyError], str, str]

FAULTS: list[FaultCase] = [
    ("timeout", {}, TransientAgencyError, "agency_timeout", "timed out"),
    (
        "http500",
        {},
        TransientAgencyError,
        "agency_unavailable",
        "HTTP 500: R0901 Internal processing error",
    ),
    ("http503", {}, TransientAgencyError, "agency_unavailable", "HTTP 503 service unavailable"),
    (
        "http429",
        {"max_retry_after": 0},
        TransientAgencyError,
        "agency_rate_limited",
        "HTTP 429 too many requests: TooManyRequests: Rate limit exceeded",
    ),
    ("http401", {}, AuthenticationFailed, "agency_auth_failed", "credentials rejected"),
    ("garbage", {}, UnusableResponse, "agency_bad_response", "answer is not valid JSON"),
    ("truncated", {}, UnusableResponse, "agency_bad_response", "answer is not valid JSON"),
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
def test_each_sandbox_fault_raises_the_matching_agency_error(
    fault: str,
    policy: Mapping[str, float | int],
    error: type[AgencyError],
    code: str,
    message: str,
) -> None:
    # Given Experian answers with a fault
    agencies = build(**policy)
    sandbox_of(agencies).set_faults(f"experian={fault}")

    # When a search runs
    with pytest.raises(AgencyError) as info:
        search(agencies, search_request())

    # Then the error is of the right class, with a stable code and a clear message
    assert type(info.value) is error
    assert info.value.code == code
    assert message in str(info.value)
    assert str(info.value).startswith("experian: ")


def test_http429_carries_the_retry_after_for_a_later_retry() -> None:
    # Given Experian throttles and we will not block on Retry-After
    agencies = build(max_retry_after=0)
    sandbox = sandbox_of(agencies)
    sandbox.set_faults("experian=http429")

    # When a search runs
    with pytest.raises(TransientAgencyError) as info:
        search(agencies, search_request())

    # Then it failed at once, unsent, with Experian's Retry-After for the message retry
    assert info.value.retry_after == 1.0
    assert info.value.sent is False
    assert len(sandbox.calls_to("experian", "search")) == 1


def test_flaky_once_succeeds_after_one_quick_retry() -> None:
    # Given Experian fails the first call with 503
    agencies = build()
    sandbox = sandbox_of(agencies)
    sandbox.set_faults("experian=flaky:1")

    # When a search runs
    (result,) = search(agencies, search_request(client_ref="CHK-7"))

    # Then a quick retry got the answer, and one footprint was left
    assert result.score_band is ScoreBand.EXCELLENT
    assert [c.fault for c in sandbox.calls_to("experian", "search")] == ["flaky:1", ""]
    assert sandbox.footprints("experian") == {"CHK-7"}


def test_a_timed_out_search_is_retried_with_the_same_client_reference() -> None:
    # Given Experian does the search but the answer is lost
    agencies = build()
    sandbox = sandbox_of(agencies)
    sandbox.set_faults("experian=timeout")

    # When a search runs (and its quick retries)
    with pytest.raises(TransientAgencyError):
        search(agencies, search_request(client_ref="CHK-9"))

    # Then every try carried the same reference, so Experian recorded one footprint
    searches = [c for c in sandbox.calls_to("experian", "search") if not c.fault]
    assert [c.client_ref for c in searches] == ["CHK-9"] * 3
    assert sandbox.footprints("experian") == {"CHK-9"}


def test_the_same_client_reference_twice_is_one_footprint() -> None:
    # Given the sandbox
    agencies = build()
    sandbox = sandbox_of(agencies)

    # When the same step's search is sent twice (say, after a crash)
    first, second = search(
        agencies, search_request(client_ref="CHK-5"), search_request(client_ref="CHK-5")
    )

    # Then Experian saw two calls but recorded one search, under one reference
    assert len(sandbox.calls_to("experian", "search")) == 2
    assert sandbox.footprints("experian") == {"CHK-5"}
    assert first.agency_ref == second.agency_ref


# -- answers the adapter must not use -------------------------------------------------------

SENT_REF = "CHK-1:experian:applicant"


def recorded_answer() -> dict[str, Any]:
    """Alice's fixture as the sandbox would send it."""
    answer: dict[str, Any] = json.loads(
        (FIXTURES_DIR / "experian" / "alice.json").read_text(encoding="utf-8")
    )
    answer["responseHeader"].update(
        clientReferenceId=SENT_REF, expRequestId="RB0000000001", messageTime="2026-11-23T10:00:00Z"
    )
    return answer


def answering(body: bytes) -> ExperianAdapter:
    """An Experian adapter whose agency always answers ``body`` (no token flow)."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "application/json"}, content=body)

    http = httpx.AsyncClient(
        base_url=ExperianAdapter.sandbox_base_url, transport=httpx.MockTransport(handler)
    )
    return ExperianAdapter(
        AgencyClient("experian", http, ExperianAdapter.default_policy().with_overrides(**FAST))
    )


def run_with_answer(answer: Any) -> CreditResult:
    """Search once against an agency that answers ``answer`` (JSON-encoded)."""
    adapter = answering(json.dumps(answer).encode())

    async def go() -> CreditResult:
        try:
            result = await adapter.search(search_request(client_ref=SENT_REF))
            # search() returns any contract result; this agency's is a CreditResult.
            assert isinstance(result, CreditResult)
            return result
        finally:
            await adapter.client.http.aclose()

    return asyncio.run(go())


def _elements(answer: dict[str, Any]) -> list[dict[str, Any]]:
    elements: list[dict[str, Any]] = answer["clientResponsePayload"]["decisionElements"]
    return elements


def _credit(answer: dict[str, Any]) -> dict[str, Any]:
    return next(e for e in _elements(answer) if e["serviceName"] == "Delphi")


def _identity(answer: dict[str, Any]) -> dict[str, Any]:
    return next(e for e in _elements(answer) if e["serviceName"] == "Authenticate")


Mutation = Callable[[dict[str, Any]], Any]

UNUSABLE: dict[str, tuple[Mutation, str]] = {
    "not an object": (lambda a: [a], "answer is not an object"),
    "no responseHeader": (lambda a: (a.pop("responseHeader"), a)[1], "responseHeader is missing"),
    "no overallResponse": (
        lambda a: (a["responseHeader"].pop("overallResponse"), a)[1],
        "responseHeader.overallResponse is missing",
    ),
    "another clientReferenceId": (
        lambda a: a["responseHeader"].update(clientReferenceId="CHK-OTHER") or a,
        "answer is for clientReferenceId 'CHK-OTHER'",
    ),
    "empty expRequestId": (
        lambda a: a["responseHeader"].update(expRequestId="") or a,
        "expRequestId is empty",
    ),
    "decisionElements not a list": (
        lambda a: a["clientResponsePayload"].update(decisionElements={}) or a,
        "decisionElements is not a list",
    ),
    "no credit element": (
        lambda a: a["clientResponsePayload"].update(decisionElements=[_identity(a)]) or a,
        "no Delphi decision element",
    ),
    "no identity element": (
        lambda a: a["clientResponsePayload"].update(decisionElements=[_credit(a)]) or a,
        "no Authenticate decision element",
    ),
    "score not a number": (
        lambda a: _credit(a).update(score="high") or a,
        "Delphi.score is not a whole number",
    ),
    "score off the scale": (lambda a: _credit(a).update(score=1200) or a, "outside 0-999"),
    "CCJ count missing": (
        lambda a: (
            _credit(a).update(
                dataCounts=[c for c in _credit(a)["dataCounts"] if c["name"] != "CCJCount"]
            )
            or a
        ),
        "dataCounts lacks CCJCount",
    ),
    "negative count": (lambda a: _credit(a)["dataCounts"][0].update(value=-1) or a, "is negative"),
    "identity element failed": (
        lambda a: (
            _identity(a).update(
                warningsErrors=[
                    {
                        "responseCode": "E1",
                        "responseType": "ERROR",
                        "responseMessage": "Service unavailable",
                    }
                ]
            )
            or a
        ),
        "Authenticate element failed: Service unavailable",
    ),
    "rule score not a number": (
        lambda a: _credit(a)["rules"][0].update(ruleScore="1") or a,
        "ruleScore is not a number",
    ),
}


@pytest.mark.parametrize("case", list(UNUSABLE))
def test_an_answer_of_the_wrong_shape_is_unusable(case: str) -> None:
    # Given Experian answers with something other than what was asked for
    mutate, message = UNUSABLE[case]
    answer = mutate(copy.deepcopy(recorded_answer()))

    # When a search runs
    with pytest.raises(UnusableResponse) as info:
        run_with_answer(answer)

    # Then it is an unusable response naming what was wrong (never a KeyError)
    assert message in str(info.value)


def test_the_recorded_answer_itself_is_usable() -> None:
    # Guards the mutation tests above: only the mutation makes those answers unusable.
    assert run_with_answer(recorded_answer()).score == 982


def test_an_error_answer_for_a_refused_request_is_permanent() -> None:
    # Given Experian answers ERROR with a request-validation code
    answer = {
        "responseHeader": {
            "clientReferenceId": SENT_REF,
            "responseCode": "R0102",
            "responseType": "ERROR",
            "responseMessage": "Invalid postal",
        }
    }

    # When a search runs
    with pytest.raises(PermanentAgencyError) as info:
        run_with_answer(answer)

    # Then the request is reported as refused, with Experian's code and message
    assert type(info.value) is PermanentAgencyError
    assert "request refused: R0102 Invalid postal" in str(info.value)


def test_any_other_error_answer_is_unusable() -> None:
    # Given Experian answers ERROR for a processing failure
    answer = {
        "responseHeader": {
            "clientReferenceId": SENT_REF,
            "responseCode": "R0901",
            "responseType": "ERROR",
            "responseMessage": "Workflow failed",
        }
    }

    # When a search runs / Then no decision can be read from it
    with pytest.raises(UnusableResponse) as info:
        run_with_answer(answer)
    assert "answered ERROR without a decision: R0901 Workflow failed" in str(info.value)


# -- the sandbox's Experian -----------------------------------------------------------------


def sandbox_post(path: str, body: Any, headers: Mapping[str, str]) -> httpx.Response:
    """POST straight to the sandbox's Experian, bypassing the adapter."""
    agencies = build()

    async def go() -> httpx.Response:
        try:
            return await agencies["experian"].client.http.post(path, json=body, headers=headers)
        finally:
            await agencies.aclose()

    return asyncio.run(go())


def test_sandbox_refuses_a_check_without_a_bearer_token() -> None:
    response = sandbox_post(CHECK_PATH, {}, {"X-Correlation-Id": str(uuid.uuid4())})
    assert response.status_code == 401
    assert describe_error(response) == "Unauthorized: Invalid or expired access token"


def test_sandbox_answers_400_in_experian_format_to_a_request_it_cannot_read() -> None:
    response = sandbox_post(
        CHECK_PATH,
        {"header": {"clientReferenceId": "X"}, "payload": {}},
        {"Authorization": "Bearer sandbox-token-1", "X-Correlation-Id": str(uuid.uuid4())},
    )
    assert response.status_code == 400
    assert response.json()["responseHeader"]["responseType"] == "ERROR"
    assert describe_error(response) == "R0102 Invalid request format"


def test_sandbox_token_answer_has_the_documented_fields() -> None:
    response = sandbox_post(
        TOKEN_PATH,
        {"username": "u", "password": "p", "client_id": "c", "client_secret": "s"},
        {"Grant_type": "password"},
    )
    assert response.status_code == 200
    answer = response.json()
    assert set(answer) == {"access_token", "token_type", "issued_at", "expires_in", "refresh_token"}
    assert answer["token_type"] == "Bearer"
    assert answer["expires_in"] == "1800"
