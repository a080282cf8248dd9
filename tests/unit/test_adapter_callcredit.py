"""The Callcredit adapter against the sandbox: SOAP wire format, personas, in-band errors and
hostile XML.

Every test builds its own sandbox (no network) with tiny backoffs, so quick retries cost
milliseconds. Answers the sandbox would never send are served by a one-route mock transport.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date
from xml.etree.ElementTree import Element

import httpx
import pytest

from adapters.callcredit import CallcreditAdapter
from adapters.callcredit.wire import (
    CALLREPORT_NS,
    SEARCH_PATH,
    SOAP_ACTION,
    SOAP_ENV_NS,
    describe_error,
    score_band,
)
from adapters.simulators.callcredit import CallcreditSimulator
from agencies.config import Agencies
from agencies.contract import (
    Address,
    CreditResult,
    Person,
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
from agencies.parsing import find, find_all, parse_xml, xml_text
from agencies.sandbox import default_fixtures
from fixtures import FIXTURES_DIR
from tests.adapter_harness import FAST, build, run_searches, sandbox_of, search_request, sent

AGENCY = "callcredit"
REF = "CHK-1:callcredit:applicant"


def search(agencies: Agencies, *requests: SearchRequest) -> list[CreditResult]:
    """Run Callcredit searches (default: one for Alice under REF)."""
    results = run_searches(
        agencies, AGENCY, *(requests or (search_request("alice", client_ref=REF),))
    )
    credit = [r for r in results if isinstance(r, CreditResult)]
    assert len(credit) == len(results)
    return credit


def sent_envelope(agencies: Agencies) -> tuple[httpx.Request, Element]:
    """The one search request the sandbox received, and its parsed envelope."""
    (request,) = sent(agencies, AGENCY, SEARCH_PATH)
    return request, parse_xml(request.content.decode("utf-8"))


# -- personas -------------------------------------------------------------------------------

#: persona -> (band, score, verified, CCJs, insolvent, defaults, hard 3m, hard 12m,
#: fraud markers)
PERSONA_OUTCOMES: dict[str | None, tuple[object, ...]] = {
    "alice": (ScoreBand.EXCELLENT, 682, True, 0, False, 0, 0, 1, ()),
    "bob": (ScoreBand.POOR, 558, False, 0, False, 0, 0, 0, ()),
    "carol": (ScoreBand.VERY_POOR, 412, True, 2, True, 3, 1, 4, ()),
    "dan": (ScoreBand.FAIR, 590, True, 0, False, 0, 1, 3, ()),
    "erin": (ScoreBand.GOOD, 615, True, 0, False, 0, 0, 2, ()),
    "frank": (ScoreBand.GOOD, 620, True, 0, False, 0, 0, 1, ()),
    "grace": (ScoreBand.VERY_POOR, 498, True, 0, True, 1, 0, 1, ()),
    "hana": (
        ScoreBand.GOOD,
        617,
        True,
        0,
        False,
        0,
        0,
        1,
        ("CIFAS_PROTECTIVE_REGISTRATION",),
    ),
    "ivan": (ScoreBand.GOOD, 611, True, 0, False, 0, 9, 12, ()),
    None: (ScoreBand.FAIR, 585, True, 0, False, 0, 0, 1, ()),
}


def test_every_persona_has_a_callcredit_fixture() -> None:
    keys = {p.key for p in default_fixtures().personas} | {"default"}
    assert {p.stem for p in (FIXTURES_DIR / AGENCY).glob("*.xml")} == keys


@pytest.mark.parametrize("key", list(PERSONA_OUTCOMES), ids=lambda k: k or "default")
def test_each_persona_maps_to_its_credit_result(key: str | None) -> None:
    # Given the sandbox and a persona (or an applicant who matches none)
    agencies = build(AGENCY)

    # When Callcredit is searched for them
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
    assert result.agency == AGENCY and result.client_ref == f"CHK-{key}"
    assert len(result.agency_ref) == 12 and result.agency_ref.isdigit()


@pytest.mark.parametrize(
    ("score", "band"),
    [
        (710, ScoreBand.EXCELLENT),
        (628, ScoreBand.EXCELLENT),
        (627, ScoreBand.GOOD),
        (604, ScoreBand.GOOD),
        (603, ScoreBand.FAIR),
        (566, ScoreBand.FAIR),
        (565, ScoreBand.POOR),
        (551, ScoreBand.POOR),
        (550, ScoreBand.VERY_POOR),
        (0, ScoreBand.VERY_POOR),
    ],
)
def test_transunion_scores_fall_into_bands_at_the_documented_boundaries(
    score: int, band: ScoreBand
) -> None:
    assert score_band(score) is band


# -- the request on the wire ----------------------------------------------------------------


def test_search_request_on_the_wire_is_a_soap_callreport_search() -> None:
    # Given the sandbox
    agencies = build(AGENCY)

    # When Alice is searched
    search(agencies)

    # Then one SOAP 1.1 POST carried the credentials in the header and the search in the body
    request, envelope = sent_envelope(agencies)
    assert request.method == "POST" and request.url.path == SEARCH_PATH
    assert request.headers["content-type"] == "text/xml; charset=utf-8"
    assert request.headers["soapaction"] == SOAP_ACTION
    assert envelope.tag == f"{{{SOAP_ENV_NS}}}Envelope"
    headers = find(envelope, "Header/callcreditheaders")
    assert headers is not None and headers.tag == f"{{{CALLREPORT_NS}}}callcreditheaders"
    assert [xml_text(headers, k) for k in ("company", "username", "password")] == ["sandbox"] * 3
    definition = find(envelope, "Body/Search07a/SearchDefinition")
    assert definition is not None
    assert xml_text(definition, "yourreference") == REF
    credit = find(definition, "creditrequest")
    assert credit is not None
    assert credit.attrib == {"schemaversion": "7.2", "datasets": "511"}
    assert [
        xml_text(credit, k) for k in ("score", "purpose", "autosearch", "autosearchmaximum")
    ] == [
        "1",
        "CA",
        "1",
        "3",
    ]
    applicant = find(credit, "applicant")
    assert applicant is not None
    assert [xml_text(applicant, f"name/{k}", default="") for k in ("forename", "surname")] == [
        "Alice",
        "Clean",
    ]
    assert xml_text(applicant, "dob") == "1980-01-01"
    assert (xml_text(applicant, "hho"), xml_text(applicant, "tpoptout")) == ("0", "1")
    # Current address first, then the previous one.
    addresses = [
        {local_tag(el): (el.text or "") for el in address}
        for address in find_all(applicant, "address")
    ]
    assert addresses == [
        {
            "buildingno": "10",
            "street1": "High Street",
            "street2": "",
            "posttown": "Leeds",
            "postcode": "LS1 4AP",
        },
        {
            "buildingno": "4",
            "street1": "Mill Lane",
            "street2": "",
            "posttown": "York",
            "postcode": "YO1 7HH",
        },
    ]


def local_tag(el: Element) -> str:
    """A tag without its namespace."""
    return el.tag.rsplit("}", 1)[-1]


def test_applicant_data_is_escaped_in_the_xml_never_spliced_in() -> None:
    # Given an applicant whose details contain XML's special characters
    agencies = build(AGENCY)
    hostile = 'O\'Neil & <Sons> "Ltd" ]]>'
    request = search_request("alice", client_ref="REF <&>")
    person = Person(
        forename="Zoë",
        middle_names=hostile,
        surname="Clean",
        date_of_birth=date(1980, 1, 1),
        addresses=(
            Address(
                line1="Rose Cottage",
                line2="4 Mill Lane </street1><purpose>QS</purpose>",
                town="York",
                postcode="yo1 7hh",
                from_date=date(2016, 2, 1),
            ),
        ),
    )
    request = request.model_copy(update={"person": person})

    # When the search is sent
    (result,) = search(agencies, request)

    # Then every value arrives intact as text, and no element was injected
    sent_request, envelope = sent_envelope(agencies)
    assert b"&lt;Sons&gt;" in sent_request.content and b"&amp;" in sent_request.content
    assert xml_text(envelope, "Body/Search07a/SearchDefinition/yourreference") == "REF <&>"
    credit = find(envelope, "Body/Search07a/SearchDefinition/creditrequest")
    assert credit is not None
    assert [el.text for el in find_all(credit, "purpose")] == ["CA"]
    assert xml_text(credit, "applicant/name/othernames") == hostile
    assert xml_text(credit, "applicant/name/forename") == "Zoë"
    address = find(credit, "applicant/address")
    assert address is not None
    assert xml_text(address, "buildingname") == "Rose Cottage"
    # The house number is split from the street after a house name, as at every agency.
    assert xml_text(address, "buildingno") == "4"
    assert xml_text(address, "street1") == "Mill Lane </street1><purpose>QS</purpose>"
    assert xml_text(address, "postcode") == "YO1 7HH"
    # And the sandbox still found Alice and echoed the reference
    assert result.client_ref == "REF <&>" and result.score == 682


def test_control_characters_xml_cannot_carry_are_dropped_from_the_request() -> None:
    # Given a name with a stray control character (pasted from elsewhere)
    agencies = build(AGENCY)
    request = search_request("alice", client_ref=REF)
    person = request.person.model_copy(update={"forename": "Al\x00i\x1bce\tQ"})

    # When it is sent
    search(agencies, request.model_copy(update={"person": person}))

    # Then the envelope is still well-formed XML and the readable text is kept
    _, envelope = sent_envelope(agencies)
    forename = "Body/Search07a/SearchDefinition/creditrequest/applicant/name/forename"
    assert xml_text(envelope, forename) == "Alice\tQ"


@pytest.mark.parametrize(
    ("search_type", "code", "footprint"),
    [(SearchType.HARD, "CA", "hard"), (SearchType.SOFT, "QS", "soft")],
)
def test_search_type_chooses_the_callcredit_purpose(
    search_type: SearchType, code: str, footprint: str
) -> None:
    # Given a search of one type
    agencies = build(AGENCY)
    request = search_request("alice", client_ref=REF, search_type=search_type)

    # When it runs
    purpose = agencies[AGENCY].purpose_code(request)
    search(agencies, request)

    # Then the ledger code, the wire purpose and the sandbox's footprint agree
    assert purpose == code
    _, envelope = sent_envelope(agencies)
    assert xml_text(envelope, "Body/Search07a/SearchDefinition/creditrequest/purpose") == code
    (recorded,) = sandbox_of(agencies).calls_to(AGENCY, "search")
    assert recorded.search_type == footprint


def test_a_fraud_search_is_refused_before_anything_is_sent() -> None:
    # Given a search type Callcredit does not run
    agencies = build(AGENCY)

    # When it is asked for
    with pytest.raises(PermanentAgencyError) as info:
        search(agencies, search_request(client_ref=REF, search_type=SearchType.FRAUD))

    # Then nothing reached Callcredit
    assert info.value.sent is False and info.value.code == "unsupported_search"
    assert sandbox_of(agencies).calls_to(AGENCY) == []


def test_a_repeated_reference_is_recognised_as_the_same_search() -> None:
    # Given the sandbox
    agencies = build(AGENCY)
    first = search_request("ivan", client_ref="CHK-9")

    # When the same search is sent twice (a retry), then another one
    a, b, c = search(agencies, first, first, search_request("ivan", client_ref="CHK-10"))

    # Then Callcredit saw two searches, and the retry got the same search id back
    assert a == b and a.agency_ref == b.agency_ref != c.agency_ref
    assert sandbox_of(agencies).footprints(AGENCY) == {"CHK-9", "CHK-10"}


def test_the_policy_accepts_only_xml_answers() -> None:
    policy = CallcreditAdapter.default_policy()
    assert "text/xml" in policy.content_types
    assert all("xml" in content_type for content_type in policy.content_types)
    assert CallcreditAdapter.credential_names == ("company", "username", "password")


# -- in-band errors -------------------------------------------------------------------------


def sandbox_client(agencies: Agencies, **credentials: str) -> CallcreditAdapter:
    """A Callcredit adapter on the sandbox with the given credentials."""
    client = AgencyClient(
        AGENCY,
        httpx.AsyncClient(
            base_url=CallcreditAdapter.sandbox_base_url, transport=sandbox_of(agencies).transport()
        ),
        CallcreditAdapter.default_policy().with_overrides(**FAST),
        credentials=credentials,
    )
    return CallcreditAdapter(client)


def run(adapter: CallcreditAdapter, client_ref: str = REF) -> CreditResult:
    """One search for Alice with this adapter."""

    async def go() -> CreditResult:
        try:
            result = await adapter.search(search_request("alice", client_ref=client_ref))
            # search() returns any contract result; this agency's is a CreditResult.
            assert isinstance(result, CreditResult)
            return result
        finally:
            await adapter.client.http.aclose()

    return asyncio.run(go())


def test_wrong_credentials_get_an_in_band_auth_error_and_no_search() -> None:
    # Given credentials Callcredit does not know
    agencies = build(AGENCY)
    adapter = sandbox_client(agencies, company="acme", username="sandbox", password="wrong")

    # When a search runs
    with pytest.raises(AuthenticationFailed) as info:
        run(adapter)

    # Then the HTTP 200 carrying <Error module="auth"> is an authentication failure,
    # certainly not searched, and not retried
    assert info.value.sent is False and info.value.code == "agency_auth_failed"
    assert "auth Error E0101: Invalid company, username or password" in str(info.value)
    assert sandbox_of(agencies).footprints(AGENCY) == set()
    assert len(sandbox_of(agencies).calls_to(AGENCY, "search")) == 1


def test_a_request_callcredit_refuses_is_a_permanent_error_without_a_footprint() -> None:
    # Given a search without a reference (Callcredit requires yourreference)
    agencies = build(AGENCY)
    adapter = sandbox_client(agencies, company="sandbox", username="sandbox", password="sandbox")

    # When it runs
    with pytest.raises(PermanentAgencyError) as info:
        run(adapter, client_ref="")

    # Then the in-band validation error is a refusal, not a result, and nothing was searched
    assert type(info.value) is PermanentAgencyError and info.value.sent is False
    assert "validation Error E0203: yourreference is required" in str(info.value)
    assert sandbox_of(agencies).footprints(AGENCY) == set()


def envelope_with(inner: str) -> bytes:
    """A CallReport answer envelope whose SearchResult holds ``inner``."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<soap:Envelope xmlns:soap="{SOAP_ENV_NS}"><soap:Body>'
        f'<Search07aResponse xmlns="{CALLREPORT_NS}"><SearchResult>{inner}</SearchResult>'
        "</Search07aResponse></soap:Body></soap:Envelope>"
    ).encode()


def recorded_answer(key: str = "alice", ref: str = REF) -> str:
    """A persona's fixture as the sandbox would fill it in."""
    text = (FIXTURES_DIR / AGENCY / f"{key}.xml").read_text(encoding="utf-8")
    return (
        text.replace("<searchid />", "<searchid>000000000042</searchid>")
        .replace("<searchdate />", "<searchdate>2026-11-23T10:00:00</searchdate>")
        .replace("<yourreference />", f"<yourreference>{ref}</yourreference>")
    )


def answering(
    body: bytes, *, content_type: str = "text/xml; charset=utf-8", **policy: float | int
) -> CallcreditAdapter:
    """A Callcredit adapter whose agency always answers ``body`` with HTTP 200."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": content_type}, content=body)

    http = httpx.AsyncClient(
        base_url=CallcreditAdapter.sandbox_base_url, transport=httpx.MockTransport(handler)
    )
    settings = CallcreditAdapter.default_policy().with_overrides(**{**FAST, **policy})
    return CallcreditAdapter(
        AgencyClient(
            AGENCY,
            http,
            settings,
            credentials={"company": "c", "username": "u", "password": "p"},
        )
    )


IN_BAND: dict[str, tuple[str, type[AgencyError], bool, str]] = {
    "auth error": (
        '<Errors><Error code="E0101" module="auth">Invalid company</Error></Errors>',
        AuthenticationFailed,
        False,
        "credentials rejected: auth Error E0101: Invalid company",
    ),
    "auth error beside a fatal error": (
        '<Errors><FatalError code="F1">Down</FatalError>'
        '<Error code="E0102" module="AUTH">Account locked</Error></Errors>',
        AuthenticationFailed,
        False,
        "auth Error E0102: Account locked",
    ),
    "fatal error": (
        '<Errors><FatalError code="F0001">Search could not be completed</FatalError></Errors>',
        UnusableResponse,
        True,
        "answered a FatalError instead of a report: FatalError F0001: Search could not",
    ),
    "validation error": (
        '<Errors><Error code="E0205" module="validation">Postcode is invalid</Error></Errors>',
        PermanentAgencyError,
        False,
        "request refused: validation Error E0205: Postcode is invalid",
    ),
    "error of an unknown module": (
        '<Errors><Error code="E9" module="billing">Quota reached</Error></Errors>',
        UnusableResponse,
        True,
        "answered an error instead of a report: billing Error E9: Quota reached",
    ),
    "auth error beside a report": (
        '<Errors><Error code="E0101" module="auth">Invalid company</Error></Errors>'
        "<creditreport><jobdetails><searchid>1</searchid></jobdetails></creditreport>",
        AuthenticationFailed,
        False,
        "Invalid company",
    ),
}


@pytest.mark.parametrize("case", list(IN_BAND))
def test_errors_inside_an_http_200_are_errors_not_results(case: str) -> None:
    # Given Callcredit answers HTTP 200 with Errors instead of (or beside) a report
    inner, expected, was_sent, message = IN_BAND[case]

    # When a search runs
    with pytest.raises(expected) as info:
        run(answering(envelope_with(inner)))

    # Then it is the mapped error, and whether it was searched is stated
    assert type(info.value) is expected
    assert info.value.sent is was_sent
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("faultcode", "expected"),
    [("soap:Client", PermanentAgencyError), ("soap:Server", UnusableResponse)],
)
def test_a_soap_fault_in_an_http_200_is_an_error(
    faultcode: str, expected: type[AgencyError]
) -> None:
    body = (
        f'<soap:Envelope xmlns:soap="{SOAP_ENV_NS}"><soap:Body><soap:Fault>'
        f"<faultcode>{faultcode}</faultcode><faultstring>Bad thing</faultstring>"
        "</soap:Fault></soap:Body></soap:Envelope>"
    ).encode()
    with pytest.raises(expected) as info:
        run(answering(body))
    assert type(info.value) is expected
    assert f"SOAP fault {faultcode}: Bad thing" in str(info.value)


def test_an_empty_errors_element_is_not_an_error() -> None:
    body = recorded_answer().replace("<SearchResult>", "<SearchResult><Errors />", 1)
    assert run(answering(body.encode())).score == 682


# -- HTTP errors in Callcredit's format -----------------------------------------------------


@pytest.mark.parametrize(
    ("status", "description"),
    [
        (400, "soap:Client The request could not be read; validation Error E400"),
        (401, "soap:Client Authentication failed; auth Error E401: Authentication failed"),
        (403, "soap:Client Access to CallReport is not enabled; auth Error E403"),
        (429, "soap:Server Too many requests; FatalError E429: Too many requests"),
        (500, "soap:Server Internal processing error; FatalError E500"),
        (503, "soap:Server Service temporarily unavailable; FatalError E503"),
    ],
)
def test_the_sandbox_error_body_is_a_soap_fault_with_callcredit_errors(
    status: int, description: str
) -> None:
    response = httpx.Response(
        status,
        headers={"content-type": "text/xml"},
        content=CallcreditSimulator().error_body(status),
    )
    assert describe_error(response).startswith(description)


def test_describe_error_never_fails_on_an_unreadable_body() -> None:
    for body in (b"", b"<html>oops", b"\xff\xfe", b'{"error": 1}'):
        assert describe_error(httpx.Response(500, content=body)) == ""


@pytest.mark.parametrize(
    ("fault", "expected", "detail"),
    [
        ("http401", AuthenticationFailed, "Authentication failed"),
        ("http500", TransientAgencyError, "Internal processing error"),
    ],
)
def test_an_injected_http_error_is_described_from_the_soap_fault(
    fault: str, expected: type[AgencyError], detail: str
) -> None:
    agencies = build(AGENCY, faults=f"{AGENCY}={fault}")
    with pytest.raises(expected) as info:
        search(agencies)
    assert detail in str(info.value)


def sandbox_post(content: bytes, headers: dict[str, str]) -> httpx.Response:
    """POST straight to the sandbox's Callcredit, bypassing the adapter."""
    agencies = build(AGENCY)

    async def go() -> httpx.Response:
        try:
            return await agencies[AGENCY].client.http.post(
                SEARCH_PATH, content=content, headers=headers
            )
        finally:
            await agencies.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (b"<not-soap/>", {"content-type": "text/xml", "soapaction": SOAP_ACTION}),
        (b"\xff<<", {"content-type": "text/xml", "soapaction": SOAP_ACTION}),
        (envelope_with(""), {"content-type": "text/xml", "soapaction": '"Other"'}),
        (envelope_with(""), {"content-type": "application/json", "soapaction": SOAP_ACTION}),
    ],
)
def test_sandbox_answers_a_soap_client_fault_to_an_envelope_it_cannot_read(
    content: bytes, headers: dict[str, str]
) -> None:
    response = sandbox_post(content, headers)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/xml")
    assert describe_error(response).startswith("soap:Client The request could not be read")


# -- answers the adapter must not use -------------------------------------------------------

BOMB = (
    '<?xml version="1.0"?>'
    '<!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    f'<soap:Envelope xmlns:soap="{SOAP_ENV_NS}"><soap:Body>&lol3;</soap:Body></soap:Envelope>'
).encode()
EXTERNAL_ENTITY = (
    '<?xml version="1.0"?>'
    '<!DOCTYPE soap:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    f'<soap:Envelope xmlns:soap="{SOAP_ENV_NS}"><soap:Body>&xxe;</soap:Body></soap:Envelope>'
).encode()
EXTERNAL_DTD = (
    '<?xml version="1.0"?>'
    '<!DOCTYPE soap:Envelope SYSTEM "http://evil.example/callreport.dtd">'
    + recorded_answer().split("-->", 1)[1]
).encode()

HOSTILE: dict[str, tuple[Callable[[], CallcreditAdapter], str]] = {
    "entity expansion bomb": (lambda: answering(BOMB), "XML refused"),
    "external entity": (lambda: answering(EXTERNAL_ENTITY), "XML refused"),
    "external DTD": (lambda: answering(EXTERNAL_DTD), "XML refused"),
    "invalid UTF-8": (
        lambda: answering(
            recorded_answer().replace("CLEAN", "CL\udcffEAN").encode("utf-8", "surrogateescape")
        ),
        "not valid UTF-8",
    ),
    "JSON content type": (
        lambda: answering(recorded_answer().encode(), content_type="application/json"),
        "unexpected content type 'application/json'",
    ),
    "HTML content type": (
        lambda: answering(b"<html><body>Maintenance</body></html>", content_type="text/html"),
        "unexpected content type 'text/html'",
    ),
    "oversized for XML": (
        lambda: answering(
            recorded_answer()
            .replace("</soap:Envelope>", " " * 1_100_000 + "</soap:Envelope>")
            .encode()
        ),
        "XML body larger than 1000000 bytes",
    ),
    "oversized for the policy": (
        lambda: answering(recorded_answer().encode(), max_response_bytes=2_000),
        "larger than 2000 bytes",
    ),
    "garbage": (lambda: answering(b"<<not xml>> \x00\x01"), "not well-formed XML"),
    "truncated": (
        lambda: answering(recorded_answer().encode()[:3_000]),
        "not well-formed XML",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_or_foreign_answers_are_unusable(case: str) -> None:
    # Given Callcredit (or something in its place) answers with a hostile or foreign body
    make, message = HOSTILE[case]

    # When a search runs
    with pytest.raises(UnusableResponse) as info:
        run(make())

    # Then it is refused unread or unparsed, as an unusable response naming why
    assert message in str(info.value)
    assert info.value.sent is True


def mutated(key: str, old: str, new: str) -> bytes:
    """A recorded answer with one piece of text replaced (which must be there)."""
    answer = recorded_answer(key)
    assert old in answer
    return answer.replace(old, new, 1).encode()


WRONG_SHAPE: dict[str, tuple[bytes, str]] = {
    "another yourreference": (
        recorded_answer(ref="CHK-OTHER").encode(),
        "answer is for yourreference 'CHK-OTHER'",
    ),
    "no search id": (
        mutated("alice", "<searchid>000000000042</searchid>", "<searchid />"),
        "<searchid> is missing",
    ),
    "not an envelope": (b"<creditreport/>", "not a SOAP <Envelope>"),
    "no credit report": (
        envelope_with(""),
        "<Search07aResponse/SearchResult/creditreport> is missing",
    ),
    "score above 710": (mutated("alice", ">682<", ">711<"), "<score> 711 is outside 0-710"),
    "score not a number": (mutated("alice", ">682<", ">high<"), "<score> is not a whole number"),
    "no score of our class": (
        mutated("alice", 'class="1"', 'class="7"'),
        '<creditscores/creditscore/score class="1">',
    ),
    "identity result unknown": (
        mutated("alice", "<IdentityResult>Pass<", "<IdentityResult>Maybe<"),
        "'Maybe' is neither Pass nor Fail",
    ),
    "no identity check": (
        mutated("alice", "<IdentityCheck>", "<IdentityCheckX>").replace(
            b"</IdentityCheck>", b"</IdentityCheckX>"
        ),
        "<callvalidate/IdentityCheck> is missing",
    ),
    "insolvency flag unclear": (
        mutated("alice", "<currentlyinsolvent>0<", "<currentlyinsolvent>perhaps<"),
        "'perhaps' is not a yes/no flag",
    ),
    "missing search total": (
        mutated("alice", "<totalsearches12months>1</totalsearches12months>", ""),
        "<searches/totalsearches12months> is missing",
    ),
    "negative judgments": (
        mutated("alice", "<totalactive>0<", "<totalactive>-1<"),
        "<judgments/totalactive> is not a whole number",
    ),
    "more searches in 3 months than 12": (
        mutated("ivan", "<totalsearches3months>9<", "<totalsearches3months>13<"),
        "13 searches in 3 months but 12 in 12 months",
    ),
}


@pytest.mark.parametrize("case", list(WRONG_SHAPE))
def test_an_answer_of_the_wrong_shape_is_unusable(case: str) -> None:
    # Given Callcredit answers with something other than what was asked for
    body, message = WRONG_SHAPE[case]

    # When a search runs
    with pytest.raises(UnusableResponse) as info:
        run(answering(body))

    # Then it is an unusable response naming what was wrong (never a KeyError)
    assert message in str(info.value)


@pytest.mark.parametrize("key", [k or "default" for k in PERSONA_OUTCOMES])
def test_the_recorded_answers_themselves_are_usable(key: str) -> None:
    # Guards the mutation tests above: only the mutation makes those answers unusable.
    assert run(answering(recorded_answer(key).encode())).agency_ref == "000000000042"


@pytest.mark.parametrize("marker", ["halomatch", "grodeceased"])
def test_an_applicant_on_a_deceased_register_is_never_verified(marker: str) -> None:
    # Given an otherwise passing identity check that matches a deceased register
    body = mutated("alice", f"<{marker}>0<", f"<{marker}>1<")

    # When a search runs / Then the identity is not verified
    assert run(answering(body)).identity_verified is False


def test_a_relayed_cifas_fraud_record_becomes_a_fraud_marker() -> None:
    # Given a relayed Cifas record that is not a protective registration
    record = (
        "<cifas><cifasrecord><casereferenceno>CIF1</casereferenceno>"
        "<fraudcategory>01</fraudcategory><frauddesc>Identity Fraud</frauddesc>"
        "</cifasrecord></cifas>"
    )
    body = mutated("alice", "<cifas />", record)

    # When a search runs / Then it is relayed as a fraud marker for the policy
    assert run(answering(body)).fraud_markers == ("CIFAS_FRAUD_MARKER",)
