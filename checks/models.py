"""The database tables (SQLAlchemy 2). Personal data lives only in encrypted columns.

Times are stored in UTC (naive in the database, aware in Python). Audit rows keep check ids but
no personal data and no foreign keys, so the audit trail outlives a purge.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy import (
    text as sql_text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as naive UTC; returns them aware, whatever the backend."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; use an aware UTC datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    """Base of every table."""

    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON}


class Subject(Base):
    """A person searched on, found by a keyed hash of the normalised identity."""

    __tablename__ = "subjects"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    identity_hash: Mapped[str] = mapped_column(String(64), unique=True)
    pii: Mapped[bytes | None] = mapped_column(LargeBinary)  # encrypted Person JSON
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    erased_at: Mapped[datetime | None]
    # Retention (migration 0005): why a legal hold is in place, and when the data was purged.
    hold_reason: Mapped[str | None] = mapped_column(Text)
    held_at: Mapped[datetime | None]
    purged_at: Mapped[datetime | None]


class Check(Base):
    """One check request and its outcome."""

    __tablename__ = "checks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    request_digest: Mapped[str] = mapped_column(String(64))
    request_enc: Mapped[bytes | None] = mapped_column(LargeBinary)  # encrypted request JSON
    purpose: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(20))
    product_code: Mapped[str] = mapped_column(String(40))
    credit_amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    requested_by: Mapped[str] = mapped_column(String(100))
    notify: Mapped[dict[str, Any] | None]
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"), index=True)
    joint_subject_id: Mapped[str | None] = mapped_column(ForeignKey("subjects.id"), index=True)
    status: Mapped[str] = mapped_column(String(10), index=True)
    decision: Mapped[str | None] = mapped_column(String(10))
    automated: Mapped[bool] = mapped_column(Boolean, default=True)
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    flag_reason: Mapped[str | None] = mapped_column(String(40))
    flagged_at: Mapped[datetime | None]
    retention_until: Mapped[datetime | None] = mapped_column(index=True)
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime]
    progress_at: Mapped[datetime] = mapped_column(index=True)
    finished_at: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    runs: Mapped[int] = mapped_column(Integer, default=0)
    #: Bumped by every human change of the outcome (review, fraud confirmation): optimistic
    #: locking, so two reviewers deciding at once cannot both win.
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: When the retention sweep or an erasure removed its personal data (migration 0005).
    purged_at: Mapped[datetime | None]

    steps: Mapped[list[Step]] = relationship(
        back_populates="check", order_by="Step.id", cascade="all, delete-orphan"
    )
    footprints: Mapped[list[Footprint]] = relationship(
        order_by="Footprint.id", cascade="all, delete-orphan", overlaps="check"
    )
    reasons: Mapped[list[Reason]] = relationship(
        order_by="Reason.position", cascade="all, delete-orphan"
    )


class Step(Base):
    """One search at one agency for one check; its client reference never changes."""

    __tablename__ = "steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    check_id: Mapped[str] = mapped_column(ForeignKey("checks.id"), index=True)
    slot: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(10))
    agency: Mapped[str] = mapped_column(String(40))
    role: Mapped[str] = mapped_column(String(10))
    search_type: Mapped[str] = mapped_column(String(10))
    client_ref: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str | None] = mapped_column(String(40))
    error: Mapped[str | None] = mapped_column(Text)
    result_enc: Mapped[bytes | None] = mapped_column(LargeBinary)  # encrypted result JSON
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    check: Mapped[Check] = relationship(back_populates="steps")


class Footprint(Base):
    """The ledger: exactly one row per search made at an agency."""

    __tablename__ = "footprints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    step_id: Mapped[int] = mapped_column(ForeignKey("steps.id"), unique=True)
    check_id: Mapped[str] = mapped_column(ForeignKey("checks.id"), index=True)
    subject_id: Mapped[str] = mapped_column(String(36), index=True)
    agency: Mapped[str] = mapped_column(String(40))
    search_type: Mapped[str] = mapped_column(String(10))
    purpose_code: Mapped[str] = mapped_column(String(10))
    searched_at: Mapped[datetime]
    client_ref: Mapped[str] = mapped_column(String(64), unique=True)


class Reason(Base):
    """One reason for a decision or a failure: a code, plain English, and the agency."""

    __tablename__ = "reasons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    check_id: Mapped[str] = mapped_column(ForeignKey("checks.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text)
    agency: Mapped[str | None] = mapped_column(String(40))


class Association(Base):
    """A financial association between two subjects, active until a disassociation."""

    __tablename__ = "associations"
    __table_args__ = (
        UniqueConstraint("subject_a", "subject_b", "linked_at"),
        Index(
            "ux_associations_active_pair",
            "subject_a",
            "subject_b",
            unique=True,
            sqlite_where=sql_text("status = 'active'"),
            postgresql_where=sql_text("status = 'active'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject_a: Mapped[str] = mapped_column(ForeignKey("subjects.id"), index=True)
    subject_b: Mapped[str] = mapped_column(ForeignKey("subjects.id"), index=True)
    source: Mapped[str] = mapped_column(String(20))  # joint_application, declared, operator
    source_check_id: Mapped[str | None] = mapped_column(String(36))
    linked_at: Mapped[datetime]
    disassociated_at: Mapped[datetime | None]
    #: active, breaking (a disassociation is recorded; notices out) or broken (every CRA
    #: accepted). Only an active association is ever used in a decision.
    status: Mapped[str] = mapped_column(String(10), default="active")
    break_requested_by: Mapped[str | None] = mapped_column(String(10))  # subject, operator
    break_note_enc: Mapped[bytes | None] = mapped_column(LargeBinary)  # encrypted note
    broken_at: Mapped[datetime | None]


class SubjectFlag(Base):
    """A fraud or money-laundering risk flag on one person (not on their co-applicant).

    ``source`` says where it came from: ``automated`` (an agency matched this person as the
    subject of a fraud case) or ``confirmed_case`` (our own filing, confirmed by two people).
    The person's records are kept six years from ``flagged_at``.
    """

    __tablename__ = "subject_flags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"), index=True)
    check_id: Mapped[str | None] = mapped_column(String(36), index=True)
    reason: Mapped[str] = mapped_column(String(40))  # checks.policy.Flag
    source: Mapped[str] = mapped_column(String(20))  # automated, confirmed_case
    flagged_at: Mapped[datetime]


class AssociationEvidence(Base):
    """One reason an association exists: a joint application, a declaration or an operator.

    However many checks link a pair, the pair has one association and every source is kept
    here. ``note_enc`` is the operator's note, encrypted (it may name people).
    """

    __tablename__ = "association_evidence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    association_id: Mapped[int] = mapped_column(ForeignKey("associations.id"), index=True)
    source: Mapped[str] = mapped_column(String(20))  # joint_application, declared, operator
    check_id: Mapped[str | None] = mapped_column(String(36), index=True)
    actor: Mapped[str] = mapped_column(String(100))
    note_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    recorded_at: Mapped[datetime]


class AssociationUse(Base):
    """An association a check's decision read (the associate's credit data was considered)."""

    __tablename__ = "association_uses"
    __table_args__ = (UniqueConstraint("check_id", "association_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    check_id: Mapped[str] = mapped_column(String(36), index=True)
    association_id: Mapped[int] = mapped_column(ForeignKey("associations.id"), index=True)
    used_at: Mapped[datetime]


class DisassociationNoticeRow(Base):
    """A notice of disassociation to one CRA: queued, sent, accepted or refused.

    ``client_ref`` is fixed when the notice is queued, so every resend (a retry, or asking
    again after a ``pending`` answer) is recognised by the CRA as the same notice.
    """

    __tablename__ = "disassociation_notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    association_id: Mapped[int] = mapped_column(ForeignKey("associations.id"), index=True)
    agency: Mapped[str] = mapped_column(String(40))
    client_ref: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(10))  # queued, sent, accepted, refused
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    agency_ref: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)  # a refusal's reason or the last error
    #: Set when sending stopped for good (a permanent error, retries exhausted): the
    #: reconciler leaves it to an operator's ``associations break`` again.
    gave_up_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AuditEvent(Base):
    """Every state change and operator action, without personal data."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_check_at", "check_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40))
    check_id: Mapped[str | None] = mapped_column(String(36))
    detail: Mapped[dict[str, Any] | None]
    # The hash chain (migration 0005), assigned by checks.audit_chain's sealer after commit.
    seq: Mapped[int | None] = mapped_column(Integer)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))
    #: The hash of this event's content, written with it (checks.audit_chain.event_digest).
    digest: Mapped[str | None] = mapped_column(String(64))


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


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


class ApiToken(Base):
    """An API token: its name (in the audit trail), role and the SHA-256 digest of its secret."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class OutboxMessage(Base):
    """A message to send for a check, written in the check's own transaction (the outbox).

    ``sent_at`` is set by whoever sends it (so two senders cannot both send) and cleared again
    if the broker refuses it, so a message lost because the broker was down at submit is
    re-sent by a resubmission or the outbox sweep.
    """

    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    check_id: Mapped[str] = mapped_column(String(36), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # "run": a run_check message
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(200))


# -- retention and data-subject rights (migration 0005) ---------------------------------------


class SubjectIdentity(Base):
    """One keyed identity hash of a subject: name and date of birth with one of their postcodes.

    A person who moves keeps every earlier postcode's hash, so they are found as the same subject.
    """

    __tablename__ = "subject_identities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"), index=True)
    identity_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]


class ScheduledJob(Base):
    """The last period a scheduled job was claimed for, so it runs once per period anywhere."""

    __tablename__ = "scheduled_jobs"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    period: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


# The sweep walks only records not yet purged, in retention order: its cost follows the expired
# rows, not the table.
Index(
    "ix_checks_retention_due",
    Check.retention_until,
    Check.id,
    postgresql_where=Check.purged_at.is_(None),
    sqlite_where=Check.purged_at.is_(None),
)
# One event per place in the chain: two sealers can never fork it.
Index("uq_audit_events_seq", AuditEvent.seq, unique=True)
# The audit sealer finds the events not yet chained without scanning the sealed ones.
Index(
    "ix_audit_unsealed",
    AuditEvent.id,
    postgresql_where=AuditEvent.seq.is_(None),
    sqlite_where=AuditEvent.seq.is_(None),
)
