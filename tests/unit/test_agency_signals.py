"""Signals every CRA sends that the policy reads: notices of correction, deceased indicators,
relayed Cifas markers past their expiry, the in-life purpose code; and Cifas victim cases and
protective registration expiry. Each CRA's own format, through its adapter and the sandbox."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import httpx
import pytest

from adapters.callcredit import CallcreditAdapter
from adapters.cifas import CifasAdapter
from adapters.equifax import EquifaxAdapter
from adapters.experian import ExperianAdapter
from agencies.contract import CreditResult, FraudResult, SearchType
from agencies.errors import UnusableResponse
from fixtures import FIXTURES_DIR
from tests.adapter_harness import build, run_searches, sandbox_of, search_request

CRAS = ("experian", "equifax", "callcredit")


def credit_search(agency: str, key: str) -> CreditResult:
    (result,) = run_searches(build(agency), agency, search_request(key, client_ref=f"S-{key}"))
    assert isinstance(result, CreditResult)
    return result


@pytest.mark.parametrize("agency", CRAS)
def test_a_notice_of_correction_is_read_at_every_cra(agency: str) -> None:
    # Given Nora, who added a notice of correction to her file, and Alice, who did not
    # When each CRA is searched for them
    nora, alice = credit_search(agency, "nora"), credit_search(agency, "alice")

    # Then the notice is in Nora's result only
    assert (nora.notice_of_correction, alice.notice_of_correction) == (True, False)


@pytest.mark.parametrize("agency", CRAS)
def test_a_deceased_indicator_is_read_at_every_cra(agency: str) -> None:
    # Given Otto, whose identity is on a deceased register, and Alice
    otto, alice = credit_search(agency, "otto"), credit_search(agency, "alice")

    # Then Otto's result says so (and his identity is not verified); Alice's does not
    assert (otto.deceased, alice.deceased) == (True, False)
    assert not otto.identity_verified


@pytest.mark.parametrize(
    ("agency", "in_life", "quotation"),
    [("experian", "AM", "QT"), ("equifax", "AM", "QS"), ("callcredit", "CM", "QS")],
)
def test_in_life_uses_the_account_management_purpose_code_at_every_cra(
    agency: str, in_life: str, quotation: str
) -> None:
    # Given a soft search on a customer's existing account, and a soft quotation search
    agencies = build(agency)
    base = search_request("alice", search_type=SearchType.SOFT, client_ref="S-in-life")
    account = base.model_copy(update={"purpose": "in_life"})
    quote = base.model_copy(update={"purpose": "quotation", "client_ref": "S-quote"})

    # Then each is sent with the CRA's own code for it
    adapter = agencies[agency]
    assert (adapter.purpose_code(account), adapter.purpose_code(quote)) == (in_life, quotation)

    # And the CRA accepts the account-management code as a soft search
    run_searches(agencies, agency, account)
    (call,) = sandbox_of(agencies).calls_to(agency, "search")
    assert (call.client_ref, call.search_type) == ("S-in-life", "soft")


# -- answers read straight from a (changed) recorded fixture ---------------------------------


def _json_response(answer: Any) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": "application/json"}, json=answer)


def test_experian_refuses_an_answer_without_the_notice_of_correction_rule() -> None:
    answer = json.loads((FIXTURES_DIR / "experian" / "alice.json").read_text(encoding="utf-8"))
    answer["responseHeader"].update(clientReferenceId="R1", expRequestId="RB1")
    for element in answer["clientResponsePayload"]["decisionElements"]:
        element["rules"] = [
            r for r in element["rules"] if r["ruleId"] != "DEL_NOTICE_OF_CORRECTION"
        ]
    adapter: ExperianAdapter = build()["experian"]  # type: ignore[assignment]
    # A missing signal is never read as "no notice": a person must see one that exists.
    with pytest.raises(UnusableResponse, match="DEL_NOTICE_OF_CORRECTION"):
        adapter.read_answer(_json_response(answer))


def _equifax_hana(**marker: str) -> dict[str, Any]:
    answer: dict[str, Any] = json.loads(
        (FIXTURES_DIR / "equifax" / "hana.json").read_text(encoding="utf-8")
    )
    report = answer["consumers"]["equifaxUKConsumerCreditReport"][0]
    report.update(customerReferenceNumber="R1", reportReference="EFXUK1")
    report["cifasMarkers"][0].update(marker)
    return answer


def test_equifax_drops_a_relayed_protective_registration_past_its_expiry() -> None:
    adapter: EquifaxAdapter = build()["equifax"]  # type: ignore[assignment]
    in_force = adapter.read_answer(_json_response(_equifax_hana()))
    # The report is dated 23 November 2026; this registration ended the day before.
    lapsed = adapter.read_answer(_json_response(_equifax_hana(expiryDate="22112026")))
    assert in_force.fraud_markers == ("Cifas Protective Registration",)
    assert lapsed.fraud_markers == ()


def test_equifax_refuses_a_report_without_its_notices_of_correction() -> None:
    answer = _equifax_hana()
    del answer["consumers"]["equifaxUKConsumerCreditReport"][0]["noticesOfCorrection"]
    adapter: EquifaxAdapter = build()["equifax"]  # type: ignore[assignment]
    with pytest.raises(UnusableResponse, match="noticesOfCorrection"):
        adapter.read_answer(_json_response(answer))


def _callcredit_hana(expiry: str) -> httpx.Response:
    xml = (FIXTURES_DIR / "callcredit" / "hana.xml").read_text(encoding="utf-8")
    xml = xml.replace("<searchid />", "<searchid>1</searchid>")
    xml = xml.replace("<searchdate />", "<searchdate>2026-11-30T10:00:00</searchdate>")
    xml = xml.replace("<yourreference />", "<yourreference>R1</yourreference>")
    xml = xml.replace("<expirydate>2027-12-03</expirydate>", f"<expirydate>{expiry}</expirydate>")
    return httpx.Response(200, headers={"content-type": "text/xml"}, content=xml.encode())


def test_callcredit_drops_a_relayed_cifas_record_past_its_expiry() -> None:
    adapter: CallcreditAdapter = build()["callcredit"]  # type: ignore[assignment]
    assert adapter.read_answer(_callcredit_hana("2027-12-03")).fraud_markers == (
        "CIFAS_PROTECTIVE_REGISTRATION",
    )
    assert adapter.read_answer(_callcredit_hana("2026-11-29")).fraud_markers == ()


# -- Cifas ---------------------------------------------------------------------------------


def _cifas(answer: dict[str, Any]) -> FraudResult:
    answer.update(searchReference="NFDS1", memberSearchReference="R1")
    adapter: CifasAdapter = build()["cifas"]  # type: ignore[assignment]
    return adapter.read_search_answer(_json_response(answer))


def _cifas_fixture(key: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        (FIXTURES_DIR / "cifas" / f"{key}.json").read_text(encoding="utf-8")
    )
    return loaded


def test_cifas_protective_registration_carries_its_expiry_date() -> None:
    result = _cifas(_cifas_fixture("hana"))
    assert result.protective_registration
    assert result.protective_registration_expires == date(2027, 12, 3)


def test_cifas_protective_registration_listed_as_a_case_keeps_its_expiry_date() -> None:
    answer = _cifas_fixture("hana")
    answer["protectiveRegistration"] = {"registered": False, "expiresOn": None}
    answer["cases"] = [
        {
            "casereferenceno": "PR1",
            "frauddesc": "Protective Registration",
            "fraudcategory": "PR",
            "subjectrole": "Victim",
            "expirydate": "2026-03-01",
        }
    ]
    result = _cifas(answer)
    assert (result.matches, result.protective_registration) == ((), True)
    assert result.protective_registration_expires == date(2026, 3, 1)


def test_cifas_case_subject_role_and_expiry_reach_the_policy() -> None:
    answer = _cifas_fixture("dan")
    answer["cases"][0].update(subjectrole="Victim of impersonation", expirydate="2027-03-01")
    (match,) = _cifas(answer).matches
    assert (match.subject_role, match.expiry_date) == ("victim of impersonation", date(2027, 3, 1))
