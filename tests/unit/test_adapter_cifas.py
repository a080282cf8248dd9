"""The Cifas adapter against the sandbox: search, protective registration, filing and faults.

Every test builds its own sandbox through the adapter harness (no network, tiny backoffs).
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, cast

import httpx
import pytest

from adapters.cifas import (
    CASES_PATH,
    SEARCH_PATH,
    CifasAdapter,
    case_type_of,
    describe_error,
)
from agencies.config import Agencies
from agencies.contract import FraudCase, FraudMatch, FraudResult, SearchRequest, SearchType
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
from tests.adapter_harness import FAST, person, run_searches, sandbox_of, sent


def build(**policy: float | int) -> Agencies:
    """Sandboxed agencies with fast quick retries and any policy changes for Cifas."""
    return adapter_harness.build("cifas", faults=None, latency=None, **policy)


def search_request(key: str | None = "alice", *, client_ref: str = "CHK-1:cifas") -> SearchRequest:
    """A fraud search for one persona."""
    return adapter_harness.search_request(key, client_ref=client_ref, search_type=SearchType.FRAUD)


def cifas(agencies: Agencies) -> CifasAdapter:
    """The Cifas adapter."""
    adapter = agencies["cifas"]
    assert isinstance(adapter, CifasAdapter)
    return adapter


def search(agencies: Agencies, *requests: SearchRequest) -> list[FraudResult]:
    """Run the searches one after another in one event loop, then close the clients."""
    results = run_searches(agencies, "cifas", *requests)
    assert all(isinstance(r, FraudResult) for r in results)
    return cast(list[FraudResult], results)


def file_cases(agencies: Agencies, *cases: FraudCase) -> list[str]:
    """File the cases one after another, then close the clients."""

    async def go() -> list[str]:
        try:
            return [await cifas(agencies).file_case(c) for c in cases]
        finally:
            await agencies.aclose()

    return asyncio.run(go())


# -- personas -------------------------------------------------------------------------------

DAN_CASE = FraudMatch(
    case_ref="CIF2509173342",
    member="Northwind Mobile Ltd",
    case_type="Identity Fraud",
    category="01",
    subject_role="applicant",
    input_date=date(2025, 9, 17),
    expiry_date=date(2031, 9, 17),
)

#: persona -> (matches, protective registration, passed)
PERSONA_OUTCOMES: dict[str | None, tuple[tuple[FraudMatch, ...], bool, bool]] = {
    "alice": ((), False, True),
    "bob": ((), False, True),
    "carol": ((), False, True),
    "dan": ((DAN_CASE,), False, False),
    "erin": ((), False, True),
    "frank": ((), False, True),
    "grace": ((), False, True),
    "hana": ((), True, False),
    "ivan": ((), False, True),
    None: ((), False, True),
}


@pytest.mark.parametrize("key", list(PERSONA_OUTCOMES), ids=lambda k: k or "default")
def test_each_persona_maps_to_its_fraud_result(key: str | None) -> None:
    # Given the sandbox and a persona (or an applicant who matches none)
    agencies = build()

    # When Cifas is searched for them
    (result,) = search(agencies, search_request(key, client_ref=f"CHK-{key}"))

    # Then the matches and markers tell the persona's story
    assert (result.matches, result.protective_registration, result.passed) == (
        PERSONA_OUTCOMES[key]
    )
    assert result.agency == "cifas"
    assert result.client_ref == f"CHK-{key}"
    assert result.agency_ref.startswith("NFDS")


def test_every_persona_has_a_cifas_fixture() -> None:
    keys = {p.key for p in default_fixtures().personas} | {"default"}
    assert keys <= {p.stem for p in (FIXTURES_DIR / "cifas").glob("*.json")}


def test_a_protective_registration_is_a_marker_not_a_fraud_match() -> None:
    # Given Hana, a victim of impersonation with a protective registration
    agencies = build()

    # When Cifas is searched for her
    (result,) = search(agencies, search_request("hana"))

    # Then she needs identity validation, but no fraud is attributed to her
    assert result.protective_registration is True
    assert result.matches == ()
    assert result.passed is False


def test_purpose_code_is_nfd() -> None:
    assert cifas(build()).purpose_code(search_request()) == "NFD"


@pytest.mark.parametrize(
    ("description", "category", "case_type"),
    [
        ("Identity Fraud", "01", "Identity Fraud"),
        ("IDENTITY FRAUD - impersonation", "", "Identity Fraud"),
        ("Facility Takeover", "02", "Facility Takeover"),
        ("", "03", "False Application"),
        ("", "04", "Misuse of Facility"),
        ("Asset Conversion", "05", "Asset Conversion"),
        ("Insurance Fraud", "09", "Insurance Fraud"),
    ],
)
def test_case_type_comes_from_the_description_else_the_category(
    description: str, category: str, case_type: str
) -> None:
    assert case_type_of(description, category) == case_type


# -- the request on the wire ----------------------------------------------------------------


def test_search_request_on_the_wire_has_the_documented_shape() -> None:
    # Given the sandbox
    agencies = build()
    sandbox = sandbox_of(agencies)

    # When Alice is searched
    search(agencies, search_request("alice", client_ref="CHK-42"))

    # Then Cifas received the API key and the member's search in its own format
    (request,) = sent(agencies, "cifas", SEARCH_PATH)
    assert request.method == "POST"
    assert request.headers["x-api-key"] == "sandbox"
    assert json.loads(request.content) == {
        "memberNumber": "sandbox",
        "memberSearchReference": "CHK-42",
        "product": "MOBILE-24M",
        "applicant": {
            "forename": "Alice",
            "middleNames": "",
            "surname": "Clean",
            "dateOfBirth": "1980-01-01",
            "addresses": [
                {
                    "addressType": "current",
                    "addressLine1": "10 High Street",
                    "addressLine2": "",
                    "town": "Leeds",
                    "postcode": "LS1 4AP",
                },
                {
                    "addressType": "previous",
                    "addressLine1": "4 Mill Lane",
                    "addressLine2": "",
                    "town": "York",
                    "postcode": "YO1 7HH",
                },
            ],
            "email": "alice@example.com",
            "phone": "+447700900123",
            "ipAddress": "203.0.113.7",
        },
    }
    (recorded,) = sandbox.calls_to("cifas", "search")
    assert (recorded.client_ref, recorded.search_type, recorded.persona) == (
        "CHK-42",
        "fraud",
        "alice",
    )


def test_the_same_client_reference_twice_is_one_search() -> None:
    # Given the sandbox
    agencies = build()
    sandbox = sandbox_of(agencies)

    # When the same step's search is sent twice
    first, second = search(
        agencies, search_request(client_ref="CHK-5"), search_request(client_ref="CHK-5")
    )

    # Then Cifas recorded one search and gave it one reference
    assert sandbox.footprints("cifas") == {"CHK-5"}
    assert first.agency_ref == second.agency_ref


# -- filing ---------------------------------------------------------------------------------


def dan_case(client_ref: str = "CASE-1") -> FraudCase:
    """A confirmed identity fraud on Dan's identity, ready to file."""
    return FraudCase(
        client_ref=client_ref,
        case_type="Identity Fraud",
        person=person("dan"),
        product_code="MOBILE-24M",
        evidence_summary="Applicant failed document checks; the real Dan confirmed by phone.",
    )


def test_filing_a_confirmed_case_returns_a_case_reference() -> None:
    # Given a confirmed case
    agencies = build()
    sandbox = sandbox_of(agencies)

    # When it is filed
    (reference,) = file_cases(agencies, dan_case())

    # Then Cifas returned its case reference and recorded a filing, not a search
    assert reference.startswith("CIF") and len(reference) > 3
    (filed,) = sandbox.calls_to("cifas", "file")
    assert (filed.client_ref, filed.persona, filed.status) == ("CASE-1", "dan", 201)
    assert sandbox.calls_to("cifas", "search") == []
    (request,) = sent(agencies, "cifas", CASES_PATH)
    body = json.loads(request.content)
    assert request.headers["x-api-key"] == "sandbox"
    assert {k: body[k] for k in ("memberCaseReference", "fraudcategory", "frauddesc")} == {
        "memberCaseReference": "CASE-1",
        "fraudcategory": "01",
        "frauddesc": "Identity Fraud",
    }
    assert body["subject"]["surname"] == "Impostor"


def test_filing_the_same_case_twice_gets_the_same_reference() -> None:
    agencies = build()
    first, second = file_cases(agencies, dan_case("CASE-2"), dan_case("CASE-2"))
    assert first == second


def test_a_filing_answer_without_a_case_reference_is_unusable() -> None:
    adapter = answering(json.dumps({"status": "filed"}).encode())

    async def go() -> str:
        try:
            return await adapter.file_case(dan_case())
        finally:
            await adapter.client.http.aclose()

    with pytest.raises(UnusableResponse) as info:
        asyncio.run(go())
    assert "casereferenceno is missing" in str(info.value)


# -- faults ---------------------------------------------------------------------------------

FaultCase = tuple[str, Mapping[str, float | int], type[AgencyError], str, str]

FAULTS: list[FaultCase] = [
    ("timeout", {}, TransientAgencyError, "agency_timeout", "timed out"),
    ("http500", {}, TransientAgencyError, "agency_unavailable", "HTTP 500: NFD-500 Internal"),
    (
        "http503",
        {},
        TransientAgencyError,
        "agency_unavailable",
        "HTTP 503 service unavailable: NFD-503",
    ),
    (
        "http429",
        {"max_retry_after": 0},
        TransientAgencyError,
        "agency_rate_limited",
        "HTTP 429 too many requests: NFD-429 Too many requests",
    ),
    (
        "http401",
        {},
        AuthenticationFailed,
        "agency_auth_failed",
        "HTTP 401: credentials rejected: NFD-401 API key missing or not recognised",
    ),
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
    # Given Cifas answers with a fault
    agencies = build(**policy)
    sandbox_of(agencies).set_faults(f"cifas={fault}")

    # When a search runs
    with pytest.raises(AgencyError) as info:
        search(agencies, search_request())

    # Then the error is of the right class, with a stable code and a clear message
    assert type(info.value) is error
    assert info.value.code == code
    assert message in str(info.value)
    assert str(info.value).startswith("cifas: ")


def test_flaky_once_succeeds_after_one_quick_retry() -> None:
    # Given Cifas fails the first call with 503
    agencies = build()
    sandbox = sandbox_of(agencies)
    sandbox.set_faults("cifas=flaky:1")

    # When Dan is searched
    (result,) = search(agencies, search_request("dan"))

    # Then a quick retry got the answer
    assert result.matches == (DAN_CASE,)
    assert [c.fault for c in sandbox.calls_to("cifas", "search")] == ["flaky:1", ""]


def test_a_fault_also_fails_a_filing_clearly() -> None:
    agencies = build()
    sandbox_of(agencies).set_faults("cifas=http500")
    with pytest.raises(TransientAgencyError) as info:
        file_cases(agencies, dan_case())
    assert "HTTP 500" in str(info.value)


# -- answers the adapter must not use -------------------------------------------------------

SENT_REF = "CHK-1:cifas"


def recorded_answer(key: str) -> dict[str, Any]:
    """A persona's fixture as the sandbox would send it."""
    answer: dict[str, Any] = json.loads(
        (FIXTURES_DIR / "cifas" / f"{key}.json").read_text(encoding="utf-8")
    )
    answer.update(searchReference="NFDS0000000001", memberSearchReference=SENT_REF)
    return answer


def answering(body: bytes) -> CifasAdapter:
    """A Cifas adapter whose agency always answers ``body``."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "application/json"}, content=body)

    http = httpx.AsyncClient(
        base_url=CifasAdapter.sandbox_base_url, transport=httpx.MockTransport(handler)
    )
    policy = CifasAdapter.default_policy().with_overrides(**FAST)
    return CifasAdapter(
        AgencyClient("cifas", http, policy, credentials={"api_key": "k", "member_number": "m"})
    )


def run_with_answer(answer: Any) -> FraudResult:
    """Search once against an agency that answers ``answer`` (JSON-encoded)."""
    adapter = answering(json.dumps(answer).encode())

    async def go() -> FraudResult:
        try:
            result = await adapter.search(search_request(client_ref=SENT_REF))
            # search() returns any contract result; this agency's is a FraudResult.
            assert isinstance(result, FraudResult)
            return result
        finally:
            await adapter.client.http.aclose()

    return asyncio.run(go())


Mutation = Callable[[dict[str, Any]], Any]

UNUSABLE: dict[str, tuple[str, Mutation, str]] = {
    "not an object": ("alice", lambda a: [a], "answer is not an object"),
    "another memberSearchReference": (
        "alice",
        lambda a: a.update(memberSearchReference="CHK-OTHER") or a,
        "answer is for memberSearchReference 'CHK-OTHER'",
    ),
    "unknown result": ("alice", lambda a: a.update(result="maybe") or a, "neither passed"),
    "no cases": ("alice", lambda a: (a.pop("cases"), a)[1], "answer.cases is missing"),
    "passed with a case": (
        "dan",
        lambda a: a.update(result="passed") or a,
        "result 'passed' contradicts 1 case(s)",
    ),
    "review with nothing": (
        "alice",
        lambda a: a.update(result="review") or a,
        "result 'review' contradicts 0 case(s)",
    ),
    "case without reference": (
        "dan",
        lambda a: (a["cases"][0].pop("casereferenceno"), a)[1],
        "cases[0].casereferenceno is missing",
    ),
    "bad input date": (
        "dan",
        lambda a: a["cases"][0].update(inputdate="17/09/2025") or a,
        "cases[0].inputdate '17/09/2025' is not a YYYY-MM-DD date",
    ),
    "registration not a flag": (
        "hana",
        lambda a: a["protectiveRegistration"].update(registered="yes") or a,
        "registered is not true or false",
    ),
}


@pytest.mark.parametrize("case", list(UNUSABLE))
def test_an_answer_of_the_wrong_shape_is_unusable(case: str) -> None:
    # Given Cifas answers with something other than what was asked for
    key, mutate, message = UNUSABLE[case]
    answer = mutate(copy.deepcopy(recorded_answer(key)))

    # When a search runs
    with pytest.raises(UnusableResponse) as info:
        run_with_answer(answer)

    # Then it is an unusable response naming what was wrong (never a KeyError)
    assert message in str(info.value)


@pytest.mark.parametrize("key", ["alice", "dan", "hana"])
def test_the_recorded_answers_themselves_are_usable(key: str) -> None:
    # Guards the mutation tests above: only the mutation makes those answers unusable.
    assert run_with_answer(recorded_answer(key)).client_ref == SENT_REF


def test_a_protective_registration_listed_among_cases_is_still_not_a_fraud_match() -> None:
    # Given Cifas lists the registration as a case instead of in protectiveRegistration
    answer = recorded_answer("hana")
    answer["protectiveRegistration"]["registered"] = False
    answer["cases"] = [
        {
            "casereferenceno": "CIF2512030001",
            "membernumber": "CIFAS",
            "membername": "Cifas",
            "productcode": "",
            "fraudcategory": "",
            "frauddesc": "Protective Registration",
            "subjectrole": "Victim",
            "inputdate": "2025-12-03",
            "expirydate": "2027-12-03",
        }
    ]

    # When a search runs
    result = run_with_answer(answer)

    # Then it is read as the victim's marker, never as fraud by the person
    assert result.protective_registration is True
    assert result.matches == ()


# -- the sandbox's Cifas --------------------------------------------------------------------


def sandbox_post(path: str, body: Any, headers: Mapping[str, str]) -> httpx.Response:
    """POST straight to the sandbox's Cifas, bypassing the adapter."""
    agencies = build()

    async def go() -> httpx.Response:
        try:
            return await agencies["cifas"].client.http.post(path, json=body, headers=headers)
        finally:
            await agencies.aclose()

    return asyncio.run(go())


def test_sandbox_refuses_a_search_without_an_api_key() -> None:
    response = sandbox_post(SEARCH_PATH, {}, {})
    assert response.status_code == 401
    assert describe_error(response) == "NFD-401 API key missing or not recognised"


@pytest.mark.parametrize("path", [SEARCH_PATH, CASES_PATH])
def test_sandbox_answers_400_in_cifas_format_to_a_request_it_cannot_read(path: str) -> None:
    response = sandbox_post(path, {"memberNumber": "M1"}, {"X-API-Key": "k"})
    assert response.status_code == 400
    assert describe_error(response) == "NFD-400 The request could not be read"


def test_an_unreadable_request_is_refused_permanently() -> None:
    # Given an adapter without a member number (a misconfiguration)
    agencies = build()
    client = AgencyClient(
        "cifas",
        httpx.AsyncClient(
            base_url=CifasAdapter.sandbox_base_url, transport=sandbox_of(agencies).transport()
        ),
        CifasAdapter.default_policy().with_overrides(**FAST),
        auth=CifasAdapter.make_auth(CifasAdapter.sandbox_base_url, {"api_key": "k"}),
        credentials={"api_key": "k"},
    )

    async def go() -> FraudResult:
        try:
            result = await CifasAdapter(client).search(search_request())
            # search() returns any contract result; this agency's is a FraudResult.
            assert isinstance(result, FraudResult)
            return result
        finally:
            await client.http.aclose()

    # When it searches / Then Cifas refuses, and nothing is retried
    with pytest.raises(PermanentAgencyError) as info:
        asyncio.run(go())
    assert "HTTP 400: request refused: NFD-400" in str(info.value)
    assert len(sandbox_of(agencies).calls_to("cifas", "search")) == 1
