"""Financial associations: the rules, as pure functions over frozen values.

An association links two people financially; one exists per pair however many pieces of
evidence (a hard joint application, a declaration, an operator) link them, and only a hard
joint application among applications creates one (a quotation leaves no footprint lenders see,
so it says nothing about a shared financial life). While it is active the policy reads the
associate's recent adverse credit data and refers, never declines, on it; from the moment a
disassociation is recorded it is never used again, and it is broken once every CRA accepted.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from agencies.contract import CreditResult, NoticeAnswer, SearchType
from checks.policy import Decision, Finding, PolicyThresholds, Reason


class AssociationSource(StrEnum):
    """What evidence linked two people."""

    JOINT_APPLICATION = "joint_application"
    DECLARED = "declared"
    OPERATOR = "operator"


#: Sources a person (``declared``) or an operator may record by hand; a joint application
#: link only ever comes from a decided check.
MANUAL_SOURCES = (AssociationSource.DECLARED, AssociationSource.OPERATOR)


class AssociationStatus(StrEnum):
    """Where an association is in its life; only ``ACTIVE`` is ever used in a decision."""

    ACTIVE = "active"
    BREAKING = "breaking"  # a disassociation is recorded; notices are out to the CRAs
    BROKEN = "broken"  # every CRA accepted the notice


class NoticeStatus(StrEnum):
    """A notice of disassociation at one CRA."""

    QUEUED = "queued"  # written, not yet answered
    SENT = "sent"  # the CRA answered "pending": it will confirm later (we ask again)
    ACCEPTED = "accepted"
    REFUSED = "refused"  # a joint account between them is still open: the link stays there


class RequestedBy(StrEnum):
    """Who asked for a disassociation."""

    SUBJECT = "subject"
    OPERATOR = "operator"


class SameSubject(ValueError):
    """A person cannot be financially associated with themselves."""


#: A CRA's answer, as the notice's status. ``pending`` is ``sent``: it was received, and the
#: notice is asked about again (same client reference) until the CRA decides.
STATUS_OF_ANSWER: dict[NoticeAnswer, NoticeStatus] = {
    NoticeAnswer.ACCEPTED: NoticeStatus.ACCEPTED,
    NoticeAnswer.REFUSED: NoticeStatus.REFUSED,
    NoticeAnswer.PENDING: NoticeStatus.SENT,
}
ANSWERED = frozenset({NoticeStatus.ACCEPTED, NoticeStatus.REFUSED})


def pair(a: str, b: str) -> tuple[str, str]:
    """The two subject ids in stored order, so a pair has one association whoever is first."""
    if a == b:
        raise SameSubject("an association needs two different people")
    return (a, b) if a < b else (b, a)


def joint_application_links(has_joint: bool, search_types: Iterable[SearchType]) -> bool:
    """Whether a decided check links its applicants: a joint application with a hard search.

    A joint quotation (soft searches only) links nobody: the CRAs record a financial
    association from a joint credit application, not from a price enquiry.
    """
    return has_joint and SearchType.HARD in set(search_types)


def status_after_answers(statuses: Iterable[NoticeStatus]) -> AssociationStatus:
    """A breaking association's status once its notices have these statuses.

    Broken when every CRA accepted; otherwise it stays breaking (still waiting, or with the
    refusals shown). It is never active again: the disassociation stands whatever they answer.
    """
    seen = list(statuses)
    if seen and all(s is NoticeStatus.ACCEPTED for s in seen):
        return AssociationStatus.BROKEN
    return AssociationStatus.BREAKING


@dataclass(frozen=True)
class AssociateCredit:
    """An active associate's latest credit result, as the policy may read it."""

    association_id: int
    source: AssociationSource
    searched_at: datetime
    result: CreditResult


def current_associate_results(
    associates: Iterable[AssociateCredit], now: datetime, max_age: timedelta
) -> list[AssociateCredit]:
    """The results young enough to use: old adverse data may no longer be on the file."""
    return [a for a in associates if now - a.searched_at <= max_age]


def association_findings(
    associates: Iterable[AssociateCredit], thresholds: PolicyThresholds | None = None
) -> Iterator[Finding]:
    """Refer, naming the association, where an associate has serious adverse credit data.

    Serious means a current insolvency, or judgments or defaults at the counts that would
    decline the associate as an applicant. It is only ever a referral: the applicant's own
    file may be clean, so a person looks at it rather than a machine declining them.
    """
    t = thresholds or PolicyThresholds()
    for a in associates:
        r = a.result
        which = f"association {a.association_id}, {a.source.value.replace('_', ' ')}"
        if r.insolvency_current:
            yield Finding(
                Decision.REFER,
                Reason(
                    "ASSOCIATE_INSOLVENCY",
                    f"Current insolvency recorded for a financial associate ({which})",
                    r.agency,
                ),
            )
        if r.judgments >= t.decline_judgments or r.defaults >= t.decline_defaults:
            yield Finding(
                Decision.REFER,
                Reason(
                    "ASSOCIATE_ADVERSE",
                    f"Serious adverse credit data recorded for a financial associate ({which})",
                    r.agency,
                ),
            )


class AssociationNotFound(LookupError):
    """No association (or subject) with that id."""


class IdentityUnavailable(LookupError):
    """A person's identity is no longer held (erased or purged), so no notice can name them."""


class AlreadyBroken(ValueError):
    """The association is already broken: every CRA accepted the disassociation."""
