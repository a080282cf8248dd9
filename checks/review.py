"""People in the loop: the rules of human review and of our own Cifas filings.

Pure functions over plain values and a clock passed in, so every rule is tested without a
database or a broker. An automated decision may be contested and replaced by a named person's
decision; a fraud filing needs a proposal and a confirmation by two different people.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from checks.errors import CheckError, Problem
from checks.policy import Decision, Reason

#: Longest representations or evidence text accepted (a few pages).
MAX_TEXT = 10_000
#: Longest reviewer, proposer or confirmer name (the audit trail's actor column).
MAX_NAME = 100


class CaseType(StrEnum):
    """Cifas's case types, exactly as Cifas names them."""

    IDENTITY_FRAUD = "Identity Fraud"
    FACILITY_TAKEOVER = "Facility Takeover"
    FALSE_APPLICATION = "False Application"
    MISUSE_OF_FACILITY = "Misuse of Facility"
    ASSET_CONVERSION = "Asset Conversion"

    @property
    def slug(self) -> str:
        """The slug form, e.g. ``identity_fraud``."""
        return self.value.lower().replace(" ", "_")


class QueueKind(StrEnum):
    """What a person is asked to look at."""

    REFERRAL = "referral"
    CONTEST = "contest"
    FRAUD_PROPOSAL = "fraud_proposal"


class ReviewStatus(StrEnum):
    """A review of a check's decision."""

    OPEN = "open"
    DECIDED = "decided"


class CaseStatus(StrEnum):
    """A proposed fraud case; only a confirmed one is filed."""

    PROPOSED = "proposed"
    CONFIRMED = "confirmed"
    WITHDRAWN = "withdrawn"


#: Review and case states in which a queue item still waits for a person.
AWAITING_A_PERSON = (ReviewStatus.OPEN.value, CaseStatus.PROPOSED.value)


class FilingStatus(StrEnum):
    """A confirmed case's filing to Cifas."""

    PENDING = "pending"
    RETRYING = "retrying"
    FILED = "filed"
    REJECTED = "rejected"


#: Filing states in which the case still has to be sent.
FILING_OPEN = (FilingStatus.PENDING.value, FilingStatus.RETRYING.value)


class ReviewRefused(CheckError):
    """A review or fraud action was refused; ``code`` is stable, the message says why."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


class ReviewConflict(ReviewRefused):
    """Someone else changed the check or the case at the same moment (optimistic locking)."""

    def __init__(self, message: str) -> None:
        super().__init__("conflict", message)


def parse_case_type(text: str) -> CaseType:
    """A case type from Cifas's name (any case) or its slug (``identity_fraud``).

    Raises ``ValueError`` naming the accepted values.
    """
    folded = " ".join(text.replace("_", " ").replace("-", " ").split()).casefold()
    for case_type in CaseType:
        if case_type.value.casefold() == folded:
            return case_type
    accepted = ", ".join(f"{c.value} ({c.slug})" for c in CaseType)
    raise ValueError(f"must be one of {accepted}")


def parse_decision(text: str) -> Decision:
    """A reviewer's decision: accept, refer or decline. Raises ``ValueError``."""
    try:
        return Decision(text.strip().lower())
    except ValueError:
        raise ValueError("must be accept, refer or decline") from None


def text_problems(name: str, value: str | None, limit: int = MAX_TEXT) -> list[Problem]:
    """Problems with a required free-text option; the message never repeats the text."""
    if value is None or not value.strip():
        return [Problem(name, "must not be empty")]
    if len(value) > limit:
        return [Problem(name, f"must be at most {limit} characters")]
    return []


def same_person(a: str, b: str) -> bool:
    """Whether two names given for people are the same person (case and spacing ignored).

    Two-person rules compare names this way so that ``Alice`` cannot confirm ``alice``'s case.
    """
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def due_at(requested_at: datetime, sla: timedelta) -> datetime:
    """When a person must have acted on an item requested at ``requested_at``."""
    return requested_at + sla


@dataclass(frozen=True)
class QueueItem:
    """One thing waiting for (or done by) a person: a referral, a contest, a fraud proposal."""

    check_id: str
    kind: QueueKind
    status: str
    requested_at: datetime
    due_at: datetime
    case_id: str | None = None
    decision: str | None = None

    def age(self, now: datetime) -> timedelta:
        """How long the item has been waiting."""
        return max(now - self.requested_at, timedelta(0))

    def overdue(self, now: datetime) -> bool:
        """Whether it is open and past its due date."""
        return self.is_open and now > self.due_at

    @property
    def is_open(self) -> bool:
        """Whether it still waits for a person."""
        return self.status in AWAITING_A_PERSON

    def as_dict(self, now: datetime) -> dict[str, Any]:
        """The ``review list --json`` row."""
        return {
            "check_id": self.check_id,
            "kind": self.kind.value,
            "status": "open" if self.is_open else self.status,
            "due_at": self.due_at.isoformat(),
            "requested_at": self.requested_at.isoformat(),
            "age_seconds": int(self.age(now).total_seconds()),
            "overdue": self.overdue(now),
            "case_id": self.case_id,
            "decision": self.decision,
        }


def queue_order(items: list[QueueItem]) -> list[QueueItem]:
    """Most urgent first: by due date, then by check id for a stable order."""
    return sorted(items, key=lambda i: (i.due_at, i.check_id, i.case_id or ""))


def human_reason(decision: Decision) -> Reason:
    """The reason recorded when a person replaces the automated decision."""
    verb = {
        Decision.ACCEPT: "accept the application",
        Decision.REFER: "refer the application for further checks",
        Decision.DECLINE: "decline the application",
    }[decision]
    return Reason("HUMAN_REVIEW", f"A person reviewed the decision and decided to {verb}")


#: The reason recorded when a confirmed fraud case refuses the product.
CONFIRMED_FRAUD_REASON = Reason(
    "FRAUD_CASE_CONFIRMED",
    "Declined after two people confirmed a fraud case; it is filed with Cifas, "
    "the UK fraud prevention service",
)


def how_to_contest(
    decision: str | None, automated: bool, check_id: str, sla: timedelta
) -> str | None:
    """What an applicant is told about an automated decline: they may contest it, and how.

    UK GDPR Articles 22A-22D: a person may give their view on a significant solely automated
    decision and have a person decide again. Only an automated decline needs the notice; a
    person's decision, an accept or a referral (already going to a person) does not.
    """
    if decision != Decision.DECLINE.value or not automated:
        return None
    hours = int(sla.total_seconds() // 3600)
    return (
        "This decision was made automatically, without a person involved. You may contest it: "
        "tell us why you think it is wrong and give any information you want us to consider, "
        f"quoting reference {check_id}. A person will review it and make a new decision "
        f"within {hours} hours, and we will tell you the outcome."
    )


def review_target_kind(decision: str | None) -> QueueKind:
    """The kind of review opened when a reviewer decides without a contest on record."""
    return QueueKind.REFERRAL if decision == Decision.REFER.value else QueueKind.CONTEST


def retention_after_confirmation(current: datetime | None, six_years_on: datetime) -> datetime:
    """A confirmed case keeps the check until ``six_years_on`` (six years from the
    confirmation), never shortening a retention that already runs longer."""
    return six_years_on if current is None or current < six_years_on else current
