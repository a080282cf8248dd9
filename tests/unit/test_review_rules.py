"""The rules of human review and fraud filing, as pure functions with a frozen clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from checks.policy import Decision
from checks.review import (
    CaseType,
    QueueItem,
    QueueKind,
    how_to_contest,
    human_reason,
    parse_case_type,
    parse_decision,
    queue_order,
    retention_after_confirmation,
    review_target_kind,
    same_person,
    text_problems,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
SLA = timedelta(hours=48)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Identity Fraud", CaseType.IDENTITY_FRAUD),
        ("identity fraud", CaseType.IDENTITY_FRAUD),
        ("identity_fraud", CaseType.IDENTITY_FRAUD),
        ("facility-takeover", CaseType.FACILITY_TAKEOVER),
        ("False Application", CaseType.FALSE_APPLICATION),
        ("MISUSE_OF_FACILITY", CaseType.MISUSE_OF_FACILITY),
        ("  asset_conversion ", CaseType.ASSET_CONVERSION),
    ],
)
def test_a_case_type_is_accepted_by_cifas_name_or_slug(given: str, expected: CaseType) -> None:
    assert parse_case_type(given) is expected


def test_the_case_types_are_exactly_cifas_five() -> None:
    assert [c.value for c in CaseType] == [
        "Identity Fraud",
        "Facility Takeover",
        "False Application",
        "Misuse of Facility",
        "Asset Conversion",
    ]


@pytest.mark.parametrize("given", ["", "fraud", "identity", "Money Laundering"])
def test_an_unknown_case_type_is_refused_naming_the_accepted_ones(given: str) -> None:
    with pytest.raises(ValueError, match="Identity Fraud \\(identity_fraud\\)"):
        parse_case_type(given)


def test_a_reviewer_decision_must_be_accept_refer_or_decline() -> None:
    assert parse_decision("Accept") is Decision.ACCEPT
    with pytest.raises(ValueError, match="accept, refer or decline"):
        parse_decision("approve")


def test_names_are_the_same_person_whatever_their_case_and_spacing() -> None:
    assert same_person("Alice  Smith", " alice smith")
    assert not same_person("Alice Smith", "Bob Jones")


def test_an_empty_or_oversized_text_is_a_problem_that_does_not_repeat_the_text() -> None:
    secret = "my private circumstances " * 500
    (empty,) = text_problems("--representations", "   ")
    (long,) = text_problems("--representations", secret)
    assert empty.field == long.field == "--representations"
    assert "private" not in long.message
    assert text_problems("--representations", "I paid the debt") == []


def test_a_queue_item_has_an_age_and_is_overdue_only_after_its_due_date() -> None:
    opened = NOW - timedelta(hours=50)
    item = QueueItem("c1", QueueKind.CONTEST, "open", opened, opened + SLA)
    assert item.age(NOW) == timedelta(hours=50)
    assert item.overdue(NOW)
    assert not item.overdue(opened + timedelta(hours=47))
    row = item.as_dict(NOW)
    assert row["kind"] == "contest" and row["status"] == "open"
    assert row["due_at"] == (opened + SLA).isoformat()
    assert row["age_seconds"] == 50 * 3600 and row["overdue"] is True


def test_a_closed_item_is_never_overdue_and_keeps_its_state() -> None:
    opened = NOW - timedelta(days=10)
    done = QueueItem("c1", QueueKind.FRAUD_PROPOSAL, "withdrawn", opened, opened + SLA, "f1")
    assert not done.overdue(NOW)
    assert done.as_dict(NOW)["status"] == "withdrawn"


def test_the_queue_puts_the_most_urgent_first() -> None:
    late = QueueItem("b", QueueKind.REFERRAL, "open", NOW, NOW + SLA)
    early = QueueItem("a", QueueKind.CONTEST, "open", NOW - SLA, NOW)
    assert queue_order([late, early]) == [early, late]


def test_only_an_automated_decline_tells_the_person_they_may_contest_it_and_how() -> None:
    text = how_to_contest("decline", True, "CHK-1", SLA)
    assert text is not None
    assert "contest" in text and "CHK-1" in text and "48 hours" in text and "person" in text
    assert how_to_contest("decline", False, "CHK-1", SLA) is None
    assert how_to_contest("refer", True, "CHK-1", SLA) is None
    assert how_to_contest("accept", True, "CHK-1", SLA) is None
    assert how_to_contest(None, True, "CHK-1", SLA) is None


def test_a_persons_decision_has_a_plain_english_reason() -> None:
    reason = human_reason(Decision.ACCEPT)
    assert reason.code == "HUMAN_REVIEW"
    assert reason.text == "A person reviewed the decision and decided to accept the application"


def test_a_review_opened_by_the_reviewer_is_a_referral_only_for_a_referred_check() -> None:
    assert review_target_kind("refer") is QueueKind.REFERRAL
    assert review_target_kind("decline") is QueueKind.CONTEST


def test_a_confirmed_case_never_shortens_a_longer_retention() -> None:
    six_years_on = datetime(2032, 11, 30, tzinfo=UTC)
    assert retention_after_confirmation(None, six_years_on) == six_years_on
    assert retention_after_confirmation(NOW, six_years_on) == six_years_on
    later = datetime(2033, 1, 1, tzinfo=UTC)
    assert retention_after_confirmation(later, six_years_on) == later
