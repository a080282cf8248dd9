"""The retention rules, on a frozen clock: every date is given, nothing reads the time."""

from __future__ import annotations

from datetime import UTC, date, datetime

from checks.retention import (
    KeepReason,
    RecordFacts,
    Retention,
    RetentionPolicy,
    SubjectFacts,
    add_one_month,
    add_years,
    blocking,
    record_purge_from,
)

POLICY = RetentionPolicy(retention_days=365, flagged_years=6)


def at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def subject(
    *records: RecordFacts, flagged: tuple[str, ...] = (), held: bool = False
) -> SubjectFacts:
    return SubjectFacts("s1", held, tuple(date.fromisoformat(d) for d in flagged), tuple(records))


def test_a_flag_on_29_february_is_kept_through_28_february_six_years_on() -> None:
    dan = subject(RecordFacts("c1", at("2024-02-29")), flagged=("2024-02-29",))
    r = POLICY.subject_retention(dan)
    assert r.reason is KeepReason.FLAGGED
    assert r.keep_through == date(2030, 2, 28)
    assert not r.expired(date(2030, 2, 28))
    assert r.expired(date(2030, 3, 1))


def test_a_flag_is_kept_through_the_same_calendar_date_six_years_later() -> None:
    r = POLICY.subject_retention(
        subject(RecordFacts("c1", at("2025-06-15")), flagged=("2025-06-15",))
    )
    assert r.keep_through == date(2031, 6, 15)
    assert r.purge_from == date(2031, 6, 16)


def test_an_unflagged_record_is_purged_after_the_configured_days_and_not_a_day_earlier() -> None:
    policy = RetentionPolicy(retention_days=30)
    r = policy.subject_retention(subject(RecordFacts("c1", at("2026-01-01", hour=23))))
    assert r.reason is KeepReason.RETENTION_PERIOD
    assert not r.expired(date(2026, 1, 30))
    assert r.expired(date(2026, 1, 31))


def test_a_legal_hold_blocks_a_flagged_and_an_unflagged_subject_forever() -> None:
    for facts in (
        subject(RecordFacts("c1", at("2000-01-01")), held=True),
        subject(RecordFacts("c1", at("2000-01-01")), flagged=("2000-01-01",), held=True),
        subject(RecordFacts("c1", at("2000-01-01"), held=True)),
    ):
        r = POLICY.subject_retention(facts)
        assert r.reason is KeepReason.LEGAL_HOLD
        assert r.purge_from is None
        assert not r.expired(date(2999, 1, 1))


def test_a_subject_is_kept_until_their_latest_record_may_go() -> None:
    facts = subject(RecordFacts("old", at("2020-01-01")), RecordFacts("new", at("2025-05-01")))
    r = POLICY.subject_retention(facts)
    assert r.purge_from == date(2026, 5, 1)


def test_a_check_still_running_keeps_the_whole_subject() -> None:
    facts = subject(RecordFacts("old", at("2020-01-01")), RecordFacts("running", None))
    r = POLICY.subject_retention(facts)
    assert r.reason is KeepReason.IN_PROGRESS
    assert not r.expired(date(2999, 1, 1))


def test_erasure_ignores_the_ordinary_period_but_not_a_flag() -> None:
    alice = subject(RecordFacts("c1", at("2026-11-01")))
    assert POLICY.subject_retention(alice, for_erasure=True).expired(date(2026, 11, 2))
    dan = subject(RecordFacts("c1", at("2026-11-01")), flagged=("2026-11-01",))
    r = POLICY.subject_retention(dan, for_erasure=True)
    assert not r.expired(date(2026, 11, 2))
    assert r.keep_through == date(2032, 11, 1)


def test_a_joint_record_is_kept_while_either_applicant_must_be() -> None:
    frank = Retention("frank", date(2026, 1, 1), KeepReason.RETENTION_PERIOD)
    dan = Retention("dan", date(2030, 3, 1), KeepReason.FLAGGED)
    assert blocking([frank, dan], date(2027, 1, 1)) == dan
    assert blocking([frank, dan], date(2030, 3, 1)) is None
    assert record_purge_from([frank, dan]) == date(2030, 3, 1)
    held = Retention("grace", None, KeepReason.LEGAL_HOLD)
    assert blocking([dan, held], date(2031, 1, 1)) == held
    assert record_purge_from([dan, held]) is None


def test_add_years_turns_29_february_into_28_february() -> None:
    assert add_years(date(2024, 2, 29), 6) == date(2030, 2, 28)
    assert add_years(date(2024, 2, 29), 4) == date(2028, 2, 29)


def test_a_subject_access_request_is_due_one_calendar_month_later() -> None:
    assert add_one_month(at("2026-01-31")) == at("2026-02-28")
    assert add_one_month(at("2026-12-15")) == at("2027-01-15")
    assert add_one_month(at("2028-01-30")) == at("2028-02-29")
