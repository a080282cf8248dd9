"""Retention rules: how long a person's records are kept, and when they may be purged or erased.

A fraud or money-laundering flag keeps a subject's records six years from the flag date, through
the corresponding calendar date (29 February -> 28 February), and they may be purged from the
next day; otherwise a record may be purged ``retention_days`` after its outcome. A legal hold (or
a check still running) keeps everything, and a subject is kept whole: while any one of their
records must be kept, all of them are, so nobody is ever half purged.

Everything here is a pure function of frozen values and an explicit date: no clock, no database.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import TypeVar

#: A date, or a datetime (kept to the same time of day).
D = TypeVar("D", bound=date)


class KeepReason(StrEnum):
    """Why a subject's records are kept (the rule that sets the end of their retention)."""

    LEGAL_HOLD = "legal_hold"
    IN_PROGRESS = "in_progress"
    FLAGGED = "flagged"
    RETENTION_PERIOD = "retention_period"


#: Plain English for each reason, for refusals and the subject access export.
REASON_TEXT = {
    KeepReason.LEGAL_HOLD: "a legal hold is in place",
    KeepReason.IN_PROGRESS: "a check is still in progress",
    KeepReason.FLAGGED: "flagged as a fraud or money-laundering risk (kept six years)",
    KeepReason.RETENTION_PERIOD: "the ordinary retention period after the outcome",
}


def add_years(day: D, years: int) -> D:
    """The corresponding calendar date ``years`` later; 29 February becomes 28 February."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year + years, day=28)


def add_one_month(when: datetime) -> datetime:
    """One calendar month later, clamped to the month's last day (31 January -> 28 February)."""
    year, month = (when.year + 1, 1) if when.month == 12 else (when.year, when.month + 1)
    return when.replace(
        year=year, month=month, day=min(when.day, calendar.monthrange(year, month)[1])
    )


def start_of_day(day: date) -> datetime:
    """Midnight UTC at the start of ``day`` (how a date compares with stored times)."""
    return datetime.combine(day, time(0), tzinfo=UTC)


@dataclass(frozen=True)
class RecordFacts:
    """One check of a subject, as far as retention is concerned."""

    check_id: str
    #: When its outcome was recorded (decided or failed); None while it is still running.
    ended_at: datetime | None
    #: A legal hold on this one check (holds are usually placed on the subject).
    held: bool = False


@dataclass(frozen=True)
class SubjectFacts:
    """What decides how long a subject's records are kept."""

    subject_id: str
    held: bool
    #: The dates of the subject's fraud or money-laundering flags.
    flagged_on: tuple[date, ...]
    #: The subject's checks that have not been purged yet.
    records: tuple[RecordFacts, ...]


@dataclass(frozen=True)
class Retention:
    """How long a subject's records are kept, and why."""

    subject_id: str
    #: The first day the records may be purged; None while there is no end (hold, in progress).
    purge_from: date | None
    reason: KeepReason

    @property
    def keep_through(self) -> date | None:
        """The last day the records must be kept."""
        return None if self.purge_from is None else self.purge_from - timedelta(days=1)

    def expired(self, as_of: date) -> bool:
        """Whether the records may be purged on ``as_of``."""
        return self.purge_from is not None and as_of >= self.purge_from

    def describe(self) -> str:
        """The reason in plain English, with the date retention ends when there is one."""
        text = REASON_TEXT[self.reason]
        if self.keep_through is not None:
            text += f"; kept through {self.keep_through.isoformat()}"
        return text


@dataclass(frozen=True)
class RetentionPolicy:
    """The retention periods (``CHECKS_RETENTION_DAYS`` and the six years for a flag)."""

    retention_days: int = 365
    flagged_years: int = 6

    def flag_purge_from(self, flagged_on: date) -> date:
        """A flagged record is kept through the same date six years on, purged the day after."""
        return add_years(flagged_on, self.flagged_years) + timedelta(days=1)

    def record_purge_from(self, ended_at: datetime) -> date:
        """An unflagged record may be purged ``retention_days`` after its outcome."""
        return ended_at.astimezone(UTC).date() + timedelta(days=self.retention_days)

    def subject_retention(self, facts: SubjectFacts, *, for_erasure: bool = False) -> Retention:
        """How long the subject's records are kept.

        With ``for_erasure`` the ordinary retention period does not count: a person may have
        unflagged records erased at any time, but not flagged or held ones.
        """
        if facts.held or any(r.held for r in facts.records):
            return Retention(facts.subject_id, None, KeepReason.LEGAL_HOLD)
        if any(r.ended_at is None for r in facts.records):
            return Retention(facts.subject_id, None, KeepReason.IN_PROGRESS)
        ends: list[tuple[date, KeepReason]] = [
            (self.flag_purge_from(d), KeepReason.FLAGGED) for d in facts.flagged_on
        ]
        if not for_erasure:
            ends += [
                (self.record_purge_from(r.ended_at), KeepReason.RETENTION_PERIOD)
                for r in facts.records
                if r.ended_at is not None
            ]
        if not ends:
            return Retention(facts.subject_id, date.min, KeepReason.RETENTION_PERIOD)
        # The latest end wins; on the same day the flag is the reason worth naming.
        purge_from, reason = max(ends, key=lambda e: (e[0], e[1] is KeepReason.FLAGGED))
        return Retention(facts.subject_id, purge_from, reason)


def blocking(retentions: Iterable[Retention], as_of: date) -> Retention | None:
    """Of the retentions of a record's subjects, the one that keeps it longest; None if none.

    A joint check is a record of both applicants, so it is kept while either must be.
    """
    live = [r for r in retentions if not r.expired(as_of)]
    if not live:
        return None
    # No end at all (hold, in progress) outranks any date.
    return max(live, key=lambda r: (r.purge_from is None, r.purge_from or date.min))


def record_purge_from(retentions: Sequence[Retention]) -> date | None:
    """The first day a record with these subjects may be purged (None: no end yet)."""
    if any(r.purge_from is None for r in retentions):
        return None
    return max((r.purge_from for r in retentions if r.purge_from is not None), default=date.min)
