"""The tables of checks: subjects, checks, steps, footprints, reasons, flags, the audit trail.

Also the outbox, API tokens, identity hashes and the scheduled jobs' rows. Audit rows keep check
ids but no personal data and no foreign keys, so the audit trail outlives a purge.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from checks.models.base import Base


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
    #: Not indexed, so progress updates can be HOT (migration 0009): see ``claim_stale``.
    progress_at: Mapped[datetime]
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
    #: The run (``Check.runs``) that first may have sent this step's request; set before the
    #: request leaves and kept while it may have reached the agency. A step so marked never
    #: falls back to another agency, whatever later attempts see (an open breaker, a 503).
    sent_in_run: Mapped[int | None] = mapped_column(Integer)

    check: Mapped[Check] = relationship(back_populates="steps")


class Footprint(Base):
    """The ledger: exactly one row per search that may have reached an agency.

    ``state`` is ``unknown`` from before the request leaves until an answer arrives, and
    ``confirmed`` once one does (the same row: a repeat under the same client reference is the
    same search at the agency). An unknown row stays when no usable answer came back (a timeout
    after sending, a 500, garbage), so the ledger is never shorter than the agencies' records.
    """

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
    state: Mapped[str] = mapped_column(String(10), default="confirmed", server_default="confirmed")
    confirmed_at: Mapped[datetime | None]


class Reason(Base):
    """One reason for a decision or a failure: a code, plain English, and the agency."""

    __tablename__ = "reasons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    check_id: Mapped[str] = mapped_column(ForeignKey("checks.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text)
    agency: Mapped[str | None] = mapped_column(String(40))


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
