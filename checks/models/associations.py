"""The financial associations' tables: links between subjects, their evidence, uses, notices."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import (
    text as sql_text,
)
from sqlalchemy.orm import Mapped, mapped_column

from checks.models.base import Base


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
