"""Notices of disassociation through each CRA adapter, in its own wire format, on the sandbox
(in-process respx router and ``checkctl sandbox serve``'s HTTP server)."""

from __future__ import annotations

import asyncio
from datetime import date

import httpx
import pytest
from defusedxml import ElementTree

from agencies.config import Agencies, AgencySettings, build_agencies, build_sandbox
from agencies.contract import DisassociationNotice, NoticeAnswer, NoticeReceipt, Role
from agencies.errors import TransientAgencyError, UnusableResponse
from agencies.registry import adapter_classes
from agencies.sandbox import Sandbox
from agencies.sandbox_server import SandboxServer
from tests.adapter_harness import build, json_of, person, sandbox_of, search_request, sent

CRAS = ("experian", "equifax", "callcredit")
REF = "d15a550c1a7e0000d15a550c1a7e0000"


def notice(a: str | None, b: str | None, client_ref: str = REF) -> DisassociationNotice:
    return DisassociationNotice(
        client_ref=client_ref,
        person=person(a),
        associate=person(b),
        ended_on=date(2026, 11, 30),
        requested_by="subject",
    )


def send(agencies: Agencies, agency: str, *notices: DisassociationNotice) -> list[NoticeReceipt]:
    async def go() -> list[NoticeReceipt]:
        try:
            return [await agencies[agency].send_disassociation(n) for n in notices]
        finally:
            await agencies.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("agency", "expected"),
    [
        ("experian", NoticeAnswer.ACCEPTED),
        ("equifax", NoticeAnswer.ACCEPTED),
        # Frank and Grace still hold a joint account at Callcredit: the link stays there.
        ("callcredit", NoticeAnswer.REFUSED),
    ],
)
def test_each_cra_answers_frank_and_graces_notice_and_records_it_once(
    agency: str, expected: NoticeAnswer
) -> None:
    agencies = build()
    sandbox = sandbox_of(agencies)
    # When the same notice is sent twice (a retry)
    first, again = send(agencies, agency, notice("frank", "grace"), notice("frank", "grace"))
    # Then the CRA answers it, recognises the repeat, and has recorded one notice
    assert first.answer is expected and again.answer is expected
    assert first.client_ref == notice("frank", "grace").client_ref
    assert first.agency_ref and again.agency_ref == first.agency_ref
    assert list(sandbox.notices(agency)) == [first.client_ref]
    assert [c.persona for c in sandbox.calls_to(agency, "notice")] == ["frank+grace"] * 2


def test_a_refusal_names_the_open_joint_account() -> None:
    (receipt,) = send(build(), "callcredit", notice("frank", "grace"))
    assert receipt.answer is NoticeAnswer.REFUSED and "joint account" in receipt.detail.lower()


def test_a_pending_notice_is_confirmed_when_asked_again_with_the_same_reference() -> None:
    agencies = build()
    first, again = send(agencies, "equifax", notice("alice", "bob"), notice("alice", "bob"))
    assert (first.answer, again.answer) == (NoticeAnswer.PENDING, NoticeAnswer.ACCEPTED)
    assert len(sandbox_of(agencies).notices("equifax")) == 1


def test_experian_notice_is_crosscore_json_with_token_and_client_reference() -> None:
    agencies = build()
    send(agencies, "experian", notice("frank", "grace"))
    (request,) = sent(agencies, "experian", "/disassociation")
    body = json_of(request)
    assert request.headers["authorization"].startswith("Bearer ")
    assert request.headers["x-correlation-id"]
    assert body["header"]["clientReferenceId"] == notice("frank", "grace").client_ref
    assert body["header"]["requestType"] == "Disassociation"
    assert [c["person"]["names"][0]["surName"] for c in body["payload"]["contacts"]] == [
        "Joint",
        "Joint",
    ]
    assert body["payload"]["disassociation"]["linkEndDate"] == "2026-11-30"


def test_equifax_notice_carries_both_consumers_and_a_down_service_answers_its_envelope() -> None:
    agencies = build(faults="equifax=http503")
    with pytest.raises(TransientAgencyError, match="503"):
        send(agencies, "equifax", notice("frank", "grace"))
    (request, *_) = sent(agencies, "equifax", "/disassociations")
    body = json_of(request)
    assert body["customerReferenceIdentifier"] == notice("frank", "grace").client_ref
    assert [c["dateOfBirth"] for c in body["consumers"]] == ["03031970", "04041972"]
    assert body["disassociation"]["effectiveDate"] == "30112026"
    assert not sandbox_of(agencies).notices("equifax")


def test_callcredit_notice_is_a_soap_envelope_with_the_credentials_header() -> None:
    agencies = build()
    send(agencies, "callcredit", notice("frank", "grace"))
    (request,) = sent(agencies, "callcredit", "/disassociate")
    root = ElementTree.fromstring(request.content)
    ns = {
        "s": "http://schemas.xmlsoap.org/soap/envelope/",
        "c": "urn:callcredit.co.uk/soap:callreport7",
    }
    assert root.find("s:Header/c:callcreditheaders/c:username", ns) is not None
    definition = root.find("s:Body/c:Disassociate07a/c:DisassociationDefinition", ns)
    assert definition is not None
    assert definition.findtext("c:yourreference", namespaces=ns) == REF
    assert definition.findtext("c:associate/c:dob", namespaces=ns) == "1972-04-04"
    assert request.headers["soapaction"].endswith('/Disassociate07a"')


def test_a_search_carries_declared_associates_to_experian_as_contacts() -> None:
    agencies = build()
    request = search_request("frank").model_copy(update={"associates": (person("grace"),)})
    asyncio.run(_search(agencies, request))
    body = json_of(sent(agencies, "experian", "/application")[0])
    contacts = body["payload"]["contacts"]
    assert [c["id"] for c in contacts] == ["MAINCONTACT_1", "ASSOCIATE_1"]
    assert body["payload"]["application"]["financialAssociates"] == [
        {"contactId": "ASSOCIATE_1", "associationType": "DECLARED"}
    ]
    # The applicant is still the one searched.
    assert body["payload"]["application"]["applicants"][0]["contactId"] == "MAINCONTACT_1"


def test_a_joint_applicants_search_carries_no_declared_associates() -> None:
    from checks.inputs import CheckInputs

    inputs = CheckInputs(
        purpose="new_order",
        channel="store",
        product_code="MOBILE-24M",
        credit_amount=search_request().credit_amount,
        term_months=24,
        applicant=person("frank"),
        joint=person("grace"),
        associates=(person("alice"),),
    )
    assert inputs.search_request(Role.APPLICANT, search_request().search_type, "r").associates
    assert not inputs.search_request(Role.JOINT, search_request().search_type, "r").associates


async def _search(agencies: Agencies, request: object) -> None:
    try:
        await agencies["experian"].search(request)  # type: ignore[arg-type]
    finally:
        await agencies.aclose()


def test_the_http_sandbox_answers_notices_of_disassociation_for_every_cra() -> None:
    with SandboxServer(build_sandbox()) as server:
        names = sorted(adapter_classes())
        agencies = build_agencies(
            AgencySettings(
                mode="live",
                base_urls={n: server.base_url(n) for n in names},
                credentials={
                    n: {k: "sandbox" for k in adapter_classes()[n].credential_names} for n in names
                },
            )
        )

        async def go() -> list[NoticeReceipt]:
            try:
                return [
                    await agencies[n].send_disassociation(notice("frank", "grace")) for n in CRAS
                ]
            finally:
                await agencies.aclose()

        receipts = asyncio.run(go())
        answers = {r.agency: r.answer for r in receipts}
        assert answers == {
            "experian": NoticeAnswer.ACCEPTED,
            "equifax": NoticeAnswer.ACCEPTED,
            "callcredit": NoticeAnswer.REFUSED,
        }
        assert all(len(server.sandbox.notices(n)) == 1 for n in CRAS)
        host, port = server.address
        state = httpx.get(f"http://{host}:{port}/_sandbox/calls").json()
        assert {n: state["notices"][n] for n in CRAS} == dict.fromkeys(CRAS, 1)


@pytest.mark.parametrize("agency", ["cifas", "imrg"])
def test_agencies_other_than_cras_take_no_notices(agency: str) -> None:
    with pytest.raises(NotImplementedError):
        send(build(), agency, notice("frank", "grace"))


@pytest.mark.parametrize("agency", CRAS)
def test_an_answer_not_in_the_cras_format_is_unusable(agency: str) -> None:
    with pytest.raises(UnusableResponse):
        send(build(faults=f"{agency}=garbage"), agency, notice("frank", "grace"))


@pytest.mark.parametrize("agency", CRAS)
def test_a_notice_whose_answer_was_lost_is_recognised_when_sent_again(agency: str) -> None:
    # Given the CRA recorded the notice but its answer never arrived
    agencies = build(faults=f"{agency}=timeout", quick_retries=0)
    sandbox = sandbox_of(agencies)
    with pytest.raises(TransientAgencyError):
        send(agencies, agency, notice("alice", "carol"))
    # When it is sent again with the same reference, once the CRA answers
    sandbox.set_faults(None)
    (receipt,) = send_on(agencies, sandbox, agency, notice("alice", "carol"))
    # Then it is one notice at the CRA, accepted
    assert receipt.answer is NoticeAnswer.ACCEPTED
    assert list(sandbox.notices(agency)) == [REF]


def send_on(
    agencies: Agencies, sandbox: object, agency: str, n: DisassociationNotice
) -> list[NoticeReceipt]:
    """Send through a fresh adapter of the same kind on an existing sandbox (a later attempt)."""
    from agencies.config import build_adapter

    assert isinstance(sandbox, Sandbox)
    cls = type(agencies[agency])
    adapter = build_adapter(
        cls,
        cls.sandbox_base_url,
        sandbox.transport(),
        {k: "sandbox" for k in cls.credential_names},
    )
    return send(Agencies({agency: adapter}, sandbox), agency, n)
