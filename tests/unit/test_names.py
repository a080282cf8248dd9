"""Names that look alike match alike: normalisation, refusal and the mixed-script rule."""

from __future__ import annotations

import unicodedata
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checks.crypto import Cipher
from checks.errors import InvalidRequest
from checks.inputs import identity_of, person_from_request
from checks.names import (
    MIXED_SCRIPT_REASON,
    is_mixed_script,
    name_key,
    name_problem,
    normalise_name,
    refer_mixed_script_names,
)
from checks.policy import Decision, Flag, Reason, Verdict
from checks.request import parse_check_request
from checks.samples import persona_request

TODAY = date(2026, 11, 23)
CIPHER = Cipher(["5yoiQx0ZVQ7m4A1n-ZpQJ5gZcC5aZ9ycYpK0f2mJ0mE="])


def _dan(surname: str) -> dict[str, Any]:
    request = persona_request("dan", "T-NAMES-1")
    request["applicant"]["surname"] = surname
    return request


def _subject_hash(request: dict[str, Any]) -> str:
    parsed = parse_check_request(request, today=TODAY)
    return CIPHER.identity_hash(identity_of(person_from_request(parsed.applicant)))


@pytest.mark.parametrize(
    "lookalike",
    ["Imp\u200bostor", "Imp\u00adostor", "Imp\u200dostor", "\ufeffImpostor", "Ｉｍｐｏｓｔｏｒ"],
    ids=["zero-width space", "soft hyphen", "zero-width joiner", "BOM", "full-width"],
)
def test_invisible_characters_and_compatibility_forms_hash_and_search_as_the_plain_name(
    lookalike: str,
) -> None:
    # Given Dan's request with a surname that only looks like his
    request = _dan(lookalike)
    # When it is validated, the surname searched and stored is the plain one
    parsed = parse_check_request(request, today=TODAY)
    assert parsed.applicant.surname == "Impostor"
    # And the subject is Dan's own
    assert _subject_hash(request) == _subject_hash(_dan("Impostor"))


@pytest.mark.parametrize(
    "hostile",
    ["Imp\u202eostor", "Imp\u2066ostor", "Imp\u200fostor", "Imp\ue000ostor", "Imp\U000e0041ostor"],
    ids=["RLO", "LRI", "RLM", "private use", "tag character"],
)
def test_bidi_controls_and_private_use_characters_are_refused_naming_the_field(
    hostile: str,
) -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_check_request(_dan(hostile), today=TODAY)
    (problem,) = raised.value.problems
    assert problem.field == "applicant.surname"
    # The message names the rule, never the value
    assert "Imp" not in problem.message


def test_a_lone_surrogate_in_any_text_field_is_a_field_error_not_a_crash() -> None:
    request = _dan("Impostor")
    request["applicant"]["addresses"][0]["line1"] = "10 High \ud800Street"
    with pytest.raises(InvalidRequest) as raised:
        parse_check_request(request, today=TODAY)
    assert [p.field for p in raised.value.problems] == ["applicant.addresses.0.line1"]


def test_a_name_of_only_invisible_characters_is_empty() -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_check_request(_dan("\u200b\u00ad"), today=TODAY)
    assert [p.field for p in raised.value.problems] == ["applicant.surname"]


@pytest.mark.parametrize(
    ("name", "mixed"),
    [
        ("Impostor", False),
        ("Imp\u043estor", True),  # Cyrillic o
        ("Imp\u03bfstor", True),  # Greek omicron
        ("Иванов", False),  # all Cyrillic
        ("Παπαδόπουλος", False),  # all Greek
        ("O'Brien-Smith", False),
        ("Zoë", False),
    ],
)
def test_mixed_script_is_latin_with_cyrillic_or_greek_letters(name: str, mixed: bool) -> None:
    assert is_mixed_script(name) is mixed


def test_a_mixed_script_name_turns_an_accept_into_a_referral_with_the_reason() -> None:
    accept = Verdict(Decision.ACCEPT, (Reason("ACCEPTED", "passed"),))
    verdict = refer_mixed_script_names(accept, ["Dan", "Imp\u043estor"])
    assert verdict.decision is Decision.REFER
    assert [r.code for r in verdict.reasons] == [MIXED_SCRIPT_REASON]


def test_a_mixed_script_name_keeps_a_decline_and_its_flag_and_adds_the_reason() -> None:
    decline = Verdict(Decision.DECLINE, (Reason("CIFAS_MATCH", "match"),), Flag.FRAUD_RISK)
    verdict = refer_mixed_script_names(decline, ["Imp\u043estor"])
    assert verdict.decision is Decision.DECLINE and verdict.flag is Flag.FRAUD_RISK
    assert [r.code for r in verdict.reasons] == ["CIFAS_MATCH", MIXED_SCRIPT_REASON]


def test_names_in_one_script_leave_the_verdict_alone() -> None:
    accept = Verdict(Decision.ACCEPT, (Reason("ACCEPTED", "passed"),))
    assert refer_mixed_script_names(accept, ["Dan", "Impostor", "Иванов"]) is accept


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(min_size=1, max_size=30))
def test_any_unicode_surname_is_refused_on_its_field_or_matches_its_normalised_form(
    surname: str,
) -> None:
    # Given a request whose surname is any Unicode text
    try:
        hashed = _subject_hash(_dan(surname))
    except InvalidRequest as rejected:
        # Then either it is refused with an error on the surname field alone
        assert [p.field for p in rejected.problems] == ["applicant.surname"]
        return
    # Or it is the same subject as its NFKC-normalised, format-stripped form
    plain = normalise_name(surname).strip()
    assert hashed == _subject_hash(_dan(plain))
    assert name_problem(plain) is None


@given(st.text(max_size=30))
def test_normalisation_is_idempotent_and_leaves_no_stripped_format_characters(
    text: str,
) -> None:
    once = normalise_name(text)
    assert normalise_name(once) == once
    assert not any(c in "\u00ad\u200b\u200c\u200d\u2060\ufeff" for c in once)
    assert unicodedata.is_normalized("NFKC", once)
    assert name_key(text) == name_key(once)
