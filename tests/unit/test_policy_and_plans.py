"""The decision policy and the plans by purpose, without a broker or a database."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agencies.contract import (
    Alert,
    AlertResult,
    CreditResult,
    FraudMatch,
    FraudResult,
    Role,
    ScoreBand,
    SearchType,
)
from checks.plans import PlanInput, plan_steps
from checks.policy import Decision, Flag, decide

ALL = {"experian", "cifas", "imrg"}


def credit(**kw: object) -> CreditResult:
    base: dict[str, object] = {
        "agency": "experian",
        "client_ref": "r",
        "score": 900,
        "score_band": ScoreBand.GOOD,
        "identity_verified": True,
    }
    return CreditResult(**{**base, **kw})  # type: ignore[arg-type]


def fraud(**kw: object) -> FraudResult:
    return FraudResult(agency="cifas", client_ref="f", **kw)  # type: ignore[arg-type]


MATCH = FraudMatch(case_ref="C1", case_type="Identity Fraud", subject_role="applicant")


def test_a_clean_file_is_accepted_with_a_reason() -> None:
    v = decide([(Role.APPLICANT, credit()), (Role.APPLICANT, fraud())])
    assert v.decision is Decision.ACCEPT and v.reasons[0].code == "ACCEPTED" and v.flag is None


def test_a_fraud_match_declines_and_flags_the_record() -> None:
    v = decide([(Role.APPLICANT, credit()), (Role.APPLICANT, fraud(matches=(MATCH,)))])
    assert v.decision is Decision.DECLINE and v.flag is Flag.FRAUD_RISK
    assert v.reasons[0].code == "FRAUD_MATCH" and v.reasons[0].agency == "cifas"


def test_a_protective_registration_refers_and_never_declines_even_with_adverse_data() -> None:
    v = decide(
        [
            (Role.APPLICANT, credit(insolvency_current=True, score_band=ScoreBand.VERY_POOR)),
            (Role.APPLICANT, fraud(protective_registration=True)),
        ]
    )
    assert v.decision is Decision.REFER
    assert "PROTECTIVE_REGISTRATION" in {r.code for r in v.reasons}


def test_adverse_data_declines_the_applicant_but_only_refers_a_joint_applicant() -> None:
    bad = credit(insolvency_current=True)
    assert decide([(Role.APPLICANT, bad)]).decision is Decision.DECLINE
    assert decide([(Role.APPLICANT, credit()), (Role.JOINT, bad)]).decision is Decision.REFER


@pytest.mark.parametrize(
    ("result", "code"),
    [
        (credit(identity_verified=False), "IDENTITY_NOT_VERIFIED"),
        (credit(hard_searches_3m=9), "SEARCH_VELOCITY"),
        (credit(score_band=ScoreBand.POOR), "LOW_SCORE"),
        (credit(judgments=1), "CCJ"),
    ],
)
def test_refer_rules(result: CreditResult, code: str) -> None:
    v = decide([(Role.APPLICANT, result)])
    assert v.decision is Decision.REFER and code in {r.code for r in v.reasons}


def test_a_retail_alert_refers() -> None:
    alert = AlertResult(
        agency="imrg", client_ref="a", alerts=(Alert(code="fraudulent", identifier="address"),)
    )
    assert decide([(Role.APPLICANT, credit()), (Role.APPLICANT, alert)]).decision is Decision.REFER


def _facts(purpose: str, **kw: object) -> PlanInput:
    base: dict[str, object] = {
        "purpose": purpose,
        "channel": "store",
        "credit_amount": Decimal("720.00"),
        "has_joint": False,
        "delivery_differs": False,
    }
    return PlanInput(**{**base, **kw})  # type: ignore[arg-type]


def test_plans_follow_the_purpose_table() -> None:
    def shape(purpose: str, **kw: object) -> list[tuple[str, str]]:
        return [(s.agency, s.search_type.value) for s in plan_steps(_facts(purpose, **kw), ALL)]

    assert shape("new_order") == [("experian", "hard"), ("cifas", "fraud")]
    assert shape("new_order", channel="online") == [
        ("experian", "hard"),
        ("cifas", "fraud"),
        ("imrg", "fraud"),
    ]
    assert shape("new_order", delivery_differs=True)[-1] == ("imrg", "fraud")
    assert shape("upgrade", channel="online") == [("experian", "hard"), ("cifas", "fraud")]
    assert shape("renewal") == [("experian", "soft"), ("cifas", "fraud")]
    assert shape("quotation") == [("experian", "soft")]
    assert shape("in_life") == [("experian", "soft")]


def test_a_joint_application_searches_both_applicants() -> None:
    steps = plan_steps(_facts("new_order", has_joint=True), ALL)
    assert {(s.role, s.agency) for s in steps} == {
        (Role.APPLICANT, "experian"),
        (Role.APPLICANT, "cifas"),
        (Role.JOINT, "experian"),
        (Role.JOINT, "cifas"),
    }
    assert all(s.search_type is SearchType.HARD for s in steps if s.agency == "experian")
