"""Human review and fraud filing tables: reviews of automated decisions, fraud cases."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from checks.models.base import Base


class Review(Base):
    """A person's review of a check's automated decision: a referral or a contest.

    The applicant's representations and the reviewer's note are personal data: encrypted.
    """

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    check_id: Mapped[str] = mapped_column(ForeignKey("checks.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # checks.review.QueueKind
    status: Mapped[str] = mapped_column(String(10), index=True)  # open, decided
    requested_at: Mapped[datetime]
    requested_by: Mapped[str] = mapped_column(String(100))
    due_at: Mapped[datetime]
    representations_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    previous_decision: Mapped[str | None] = mapped_column(String(10))
    decision: Mapped[str | None] = mapped_column(String(10))
    reviewer: Mapped[str | None] = mapped_column(String(100))
    note_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    decided_at: Mapped[datetime | None]


class FraudCaseRecord(Base):
    """Our own fraud case: proposed by one person, confirmed by another, then filed to Cifas.

    ``client_ref`` is fixed at the proposal and sent as the member's case reference, so Cifas
    recognises a repeated filing. The filing lease lets one worker file at a time.
    """

    __tablename__ = "fraud_cases"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    check_id: Mapped[str] = mapped_column(ForeignKey("checks.id"), index=True)
    subject_id: Mapped[str] = mapped_column(String(36), index=True)
    case_type: Mapped[str] = mapped_column(String(40))
    evidence_enc: Mapped[bytes] = mapped_column(LargeBinary)
    client_ref: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(12), index=True)  # proposed/confirmed/withdrawn
    proposed_by: Mapped[str] = mapped_column(String(100))
    proposed_at: Mapped[datetime]
    due_at: Mapped[datetime]
    confirmed_by: Mapped[str | None] = mapped_column(String(100))
    confirmed_at: Mapped[datetime | None]
    withdrawn_by: Mapped[str | None] = mapped_column(String(100))
    withdrawn_at: Mapped[datetime | None]
    filing_status: Mapped[str | None] = mapped_column(String(12), index=True)
    filing_attempts: Mapped[int] = mapped_column(Integer, default=0)
    filing_error: Mapped[str | None] = mapped_column(Text)
    cifas_reference: Mapped[str | None] = mapped_column(String(64))
    filed_at: Mapped[datetime | None]
    filing_owner: Mapped[str | None] = mapped_column(String(64))
    filing_lease_until: Mapped[datetime | None]
    filing_progress_at: Mapped[datetime | None]
