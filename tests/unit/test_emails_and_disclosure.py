"""RFC 6531 email addresses, one person as both applicants, and what a requester is told."""

from __future__ import annotations

from typing import Any

import pytest

from agencies.sandbox import default_fixtures
from checks.disclosure import CUSTOMER_SAFE_CODES, NEUTRAL_CODE, customer_reasons
from checks.emails import is_valid_email
from checks.errors import InvalidRequest
from checks.policy import REASON_CODES
from checks.request import parse_check_request
from checks.samples import person_fields, persona_request


@pytest.mark.parametrize(
    "address",
    [
        "siân@example.com",
        "jane@example.com",
        "o'brien+orders@example.co.uk",
        "用户@例子.广告",
        "χρήστης@παράδειγμα.ελ",
        "jose@münchen.de",
        "user@xn--mnchen-3ya.de",
    ],
)
def test_internationalised_email_addresses_are_valid(address: str) -> None:
    assert is_valid_email(address)


@pytest.mark.parametrize(
    "address",
    [
        "jane.example.com",
        "jane@localhost",
        "a..b@example.com",
        ".jane@example.com",
        "jane.@example.com",
        "ja ne@example.com",
        "jane@exa_mple.com",
        "jane@-example.com",
        "jane@example.c0m",
        "\u200b@example.com",
        "@example.com",
        "ä" * 33 + "@example.com",  # 66 octets in UTF-8: over the 64-octet local part
    ],
)
def test_addresses_no_mail_system_accepts_are_invalid(address: str) -> None:
    assert not is_valid_email(address)


def test_a_request_with_an_internationalised_email_address_is_valid() -> None:
    request = persona_request("alice", "K-1")
    request["applicant"]["email"] = "siân@example.com"
    assert parse_check_request(request).applicant.email == "siân@example.com"


def _with_joint(**changes: Any) -> dict[str, Any]:
    request = persona_request("alice", "K-2")
    joint = person_fields(default_fixtures().persona("alice"))
    joint.update(changes)
    request["joint_applicant"] = joint
    return request


@pytest.mark.parametrize(
    "changes",
    [{}, {"forename": "ALICE", "surname": " clean "}, {"email": "other@example.com"}],
    ids=["identical", "case and spacing", "other contact details"],
)
def test_applicant_and_joint_applicant_must_be_different_people(changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_check_request(_with_joint(**changes))
    assert [p.field for p in info.value.problems] == ["joint_applicant"]
    assert "Alice" not in info.value.problems[0].message


def test_a_joint_applicant_with_another_date_of_birth_is_another_person() -> None:
    assert parse_check_request(_with_joint(date_of_birth="1981-01-01")).joint_applicant


# -- what the requester is told ----------------------------------------------------------------


def test_fraud_reasons_become_one_neutral_reason_and_credit_reasons_stay() -> None:
    reasons = [
        {"code": "FRAUD_MATCH", "text": "case CIF1 names the applicant", "agency": "cifas"},
        {"code": "INSOLVENCY", "text": "A current insolvency", "agency": "experian"},
        {"code": "RELAYED_FRAUD_MARKER", "text": "marker", "agency": "equifax"},
        {"code": "RETAIL_FRAUD_ALERT", "text": "alert", "agency": "imrg"},
    ]
    assert customer_reasons(reasons) == [
        {"code": NEUTRAL_CODE, "text": customer_reasons(reasons)[0]["text"], "agency": None},
        {"code": "INSOLVENCY", "text": "A current insolvency", "agency": "experian"},
    ]


def test_no_fraud_prevention_reason_is_customer_safe() -> None:
    fraud = {
        c for c in REASON_CODES if "FRAUD" in c or c in ("PROTECTIVE_REGISTRATION", "DECEASED")
    }
    assert fraud and not fraud & CUSTOMER_SAFE_CODES
    # Every safe code is one the policy gives.
    assert set(REASON_CODES) >= CUSTOMER_SAFE_CODES
