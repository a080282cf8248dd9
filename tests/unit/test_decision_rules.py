"""Issue 9's decision rules, on the policy alone with frozen values and a frozen day."""

from __future__ import annotations

import re
from datetime import date

import pytest

from agencies.contract import (
    Alert,
    AlertResult,
    CreditResult,
    FraudMatch,
    FraudResult,
    Role,
    ScoreBand,
)
from checks.policy import REASON_CODES, Decision, Flag, decide, is_thin_file

TODAY = date(2026, 11, 30)


def credit(**kw: object) -> CreditResult:
    base: dict[str, object] = {
        "agency": "experian",
        "client_ref": "r",
        "score": 900,
        "score_band": ScoreBand.GOOD,
        "identity_verified": True,
    }
    return CreditResult(**{**base, **kw})  # type: ignore[arg-type]


def fraud(*matches: FraudMatch, **kw: object) -> FraudResult:
    return FraudResult(agency="cifas", client_ref="f", matches=matches, **kw)  # type: ignore[arg-type]


def case(role: str = "applicant", expiry: date | None = date(2031, 9, 17)) -> FraudMatch:
    return FraudMatch(
        case_ref="CIF2509173342",
        case_type="Identity Fraud",
        subject_role=role,
        expiry_date=expiry,
    )


def codes(*pairs: tuple[Role, object]) -> set[str]:
    return {r.code for r in decide(pairs, as_of=TODAY).reasons}  # type: ignore[arg-type]


# -- Cifas: victims and expired cases ----------------------------------------------------------


@pytest.mark.parametrize(
    "role", ["victim", "Victim", "impersonation victim", "Victim of impersonation"]
)
def test_a_cifas_case_naming_the_applicant_as_victim_refers_and_never_flags(role: str) -> None:
    v = decide([(Role.APPLICANT, credit()), (Role.APPLICANT, fraud(case(role)))], as_of=TODAY)
    assert v.decision is Decision.REFER
    assert v.flag is None and v.flagged_roles == ()
    assert "FRAUD_VICTIM" in {r.code for r in v.reasons}


def test_a_victim_case_caps_even_adverse_credit_data_at_refer() -> None:
    bad = credit(insolvency_current=True, score_band=ScoreBand.VERY_POOR)
    v = decide([(Role.APPLICANT, bad), (Role.APPLICANT, fraud(case("victim")))], as_of=TODAY)
    assert v.decision is Decision.REFER and v.flag is None


def test_an_expired_cifas_case_neither_declines_nor_flags() -> None:
    expired = case("applicant", expiry=date(2026, 11, 29))
    v = decide([(Role.APPLICANT, credit()), (Role.APPLICANT, fraud(expired))], as_of=TODAY)
    assert v.decision is Decision.ACCEPT and v.flag is None


def test_a_cifas_case_is_in_force_through_its_expiry_date() -> None:
    last_day = case("applicant", expiry=TODAY)
    v = decide([(Role.APPLICANT, fraud(last_day))], as_of=TODAY)
    assert v.decision is Decision.DECLINE and v.flagged_roles == (Role.APPLICANT,)


def test_a_protective_registration_in_force_refers_and_never_flags() -> None:
    pr = fraud(protective_registration=True, protective_registration_expires=date(2027, 12, 3))
    v = decide(
        [(Role.APPLICANT, credit(insolvency_current=True)), (Role.APPLICANT, pr)], as_of=TODAY
    )
    assert v.decision is Decision.REFER and v.flag is None
    assert "PROTECTIVE_REGISTRATION" in {r.code for r in v.reasons}


def test_an_expired_protective_registration_no_longer_protects() -> None:
    lapsed = fraud(protective_registration=True, protective_registration_expires=date(2026, 1, 1))
    assert codes((Role.APPLICANT, credit()), (Role.APPLICANT, lapsed)) == {"ACCEPTED"}
    v = decide(
        [(Role.APPLICANT, credit(insolvency_current=True)), (Role.APPLICANT, lapsed)], as_of=TODAY
    )
    assert v.decision is Decision.DECLINE


def test_a_relayed_protective_registration_refers_rather_than_declines() -> None:
    relayed = credit(insolvency_current=True, fraud_markers=("CIFAS_PROTECTIVE_REGISTRATION",))
    v = decide([(Role.APPLICANT, relayed)], as_of=TODAY)
    assert v.decision is Decision.REFER
    assert "PROTECTIVE_REGISTRATION" in {r.code for r in v.reasons}


# -- a flag belongs to the person it concerns --------------------------------------------------


def test_a_fraud_match_on_the_joint_applicant_flags_the_joint_applicant_only() -> None:
    v = decide(
        [
            (Role.APPLICANT, credit()),
            (Role.APPLICANT, fraud()),
            (Role.JOINT, credit()),
            (Role.JOINT, fraud(case("applicant"))),
        ],
        as_of=TODAY,
    )
    assert v.decision is Decision.DECLINE
    assert v.flag is Flag.FRAUD_RISK and v.flagged_roles == (Role.JOINT,)


def test_a_fraud_match_on_the_applicant_flags_the_applicant_only() -> None:
    v = decide([(Role.APPLICANT, fraud(case("applicant"))), (Role.JOINT, fraud())], as_of=TODAY)
    assert v.flagged_roles == (Role.APPLICANT,)


def test_a_victim_applicant_does_not_shield_a_joint_applicant_who_is_a_fraud_subject() -> None:
    v = decide(
        [(Role.APPLICANT, fraud(case("victim"))), (Role.JOINT, fraud(case("applicant")))],
        as_of=TODAY,
    )
    assert v.decision is Decision.DECLINE and v.flagged_roles == (Role.JOINT,)


# -- thin and no-trace files -------------------------------------------------------------------


def test_a_no_trace_file_without_a_score_refers_and_never_declines() -> None:
    no_trace = credit(score=None, score_band=None, identity_verified=False)
    v = decide([(Role.APPLICANT, no_trace)], as_of=TODAY)
    assert v.decision is Decision.REFER
    assert {"NO_SCORE", "IDENTITY_NOT_VERIFIED"} <= {r.code for r in v.reasons}


def test_a_thin_file_with_a_very_poor_score_refers_and_never_declines() -> None:
    thin = credit(score=300, score_band=ScoreBand.VERY_POOR, identity_verified=False)
    assert is_thin_file(thin)
    assert decide([(Role.APPLICANT, thin)], as_of=TODAY).decision is Decision.REFER


def test_a_very_poor_score_on_a_file_with_adverse_data_still_declines() -> None:
    adverse = credit(
        score=300, score_band=ScoreBand.VERY_POOR, identity_verified=False, judgments=1
    )
    assert not is_thin_file(adverse)
    assert decide([(Role.APPLICANT, adverse)], as_of=TODAY).decision is Decision.DECLINE


# -- signals the agencies send -----------------------------------------------------------------


def test_a_notice_of_correction_refers_with_a_reason_that_a_person_must_read_it() -> None:
    v = decide([(Role.APPLICANT, credit(notice_of_correction=True))], as_of=TODAY)
    assert v.decision is Decision.REFER
    (reason,) = [r for r in v.reasons if r.code == "NOTICE_OF_CORRECTION"]
    assert "notice of correction" in reason.text and "must read it" in reason.text


def test_a_deceased_indicator_refers() -> None:
    v = decide([(Role.APPLICANT, credit(deceased=True))], as_of=TODAY)
    assert v.decision is Decision.REFER and "DECEASED" in {r.code for r in v.reasons}


# -- reason texts are plain English ------------------------------------------------------------

_EVERY_RULE: list[tuple[Role, CreditResult | FraudResult | AlertResult]] = [
    (Role.APPLICANT, credit(insolvency_current=True, judgments=2, defaults=3)),
    (Role.JOINT, credit(judgments=1, defaults=1, score_band=ScoreBand.POOR)),
    (Role.APPLICANT, credit(score=None, score_band=None, identity_verified=False)),
    (Role.APPLICANT, credit(score_band=ScoreBand.VERY_POOR, hard_searches_3m=9)),
    (Role.APPLICANT, credit(notice_of_correction=True, deceased=True)),
    (
        Role.APPLICANT,
        credit(fraud_markers=("CIFAS_PROTECTIVE_REGISTRATION", "CIFAS_FRAUD_MARKER")),
    ),
    (Role.JOINT, credit(fraud_markers=("Cifas Protective Registration", "Cifas Impersonation"))),
    (Role.APPLICANT, fraud(case("applicant"), case("victim"), protective_registration=True)),
    (
        Role.APPLICANT,
        AlertResult(
            agency="imrg",
            client_ref="a",
            alerts=tuple(
                Alert(code=c, identifier=i)
                for c in ("fraudulent", "chargeback", "suspect")
                for i in ("address", "email", "ip", "device")
            ),
        ),
    ),
]
# A marker or code in a text: two or more capitalised words joined by underscores.
_RAW_CODE = re.compile(r"\b[A-Z]+(?:_[A-Z]+)+\b")


def test_every_reason_text_is_plain_english_without_marker_strings_or_codes() -> None:
    v = decide(_EVERY_RULE, as_of=TODAY)
    given = {r.code for r in v.reasons}
    # Every code the policy knows is exercised here, so a new rule must join this test.
    assert given == set(REASON_CODES) - {"ACCEPTED"}
    for r in v.reasons:
        assert not _RAW_CODE.search(r.text), r.text
        assert (r.text[0].isupper() or r.text[0].isdigit()) and "  " not in r.text, r.text
        assert "marker relayed:" not in r.text
    accepted = decide([(Role.APPLICANT, credit())], as_of=TODAY).reasons
    assert [r.code for r in accepted] == ["ACCEPTED"] and not _RAW_CODE.search(accepted[0].text)
