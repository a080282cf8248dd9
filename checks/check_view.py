"""The read model of one check: what ``checkctl show`` and ``GET /checks/{id}`` show.

A typed view built from the store's rows; ``as_dict()`` gives the JSON both print (the keys
and their order are the public contract, see SPEC.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from checks.crypto import Cipher
from checks.errors import CheckNotFound
from checks.models import AuditEvent, Check, FraudCaseRecord, Review, iso
from checks.review import how_to_contest

if TYPE_CHECKING:
    from checks.read_store import ReadStore


@dataclass(frozen=True)
class ReasonView:
    """A reason for the decision."""

    code: str
    text: str
    agency: str | None


@dataclass(frozen=True)
class StepView:
    """One search of the check."""

    agency: str
    slot: str
    role: str
    search_type: str
    status: str
    attempts: int
    error: str | None
    client_ref: str | None
    #: Marked as being sent by a run that has not recorded its answer.
    possibly_sent: bool


@dataclass(frozen=True)
class FootprintView:
    """One ledger row: a search the agency may hold."""

    agency: str
    search_type: str
    purpose_code: str
    searched_at: str | None
    client_ref: str
    state: str
    confirmed_at: str | None


@dataclass(frozen=True)
class TimelineEntry:
    """One audit event of the check."""

    at: str | None
    actor: str
    action: str
    detail: Any


@dataclass(frozen=True)
class CheckView:
    """Everything shown about one check, without personal data."""

    id: str
    idempotency_key: str
    status: str
    decision: str | None
    reasons: tuple[ReasonView, ...]
    failure_reason: str | None
    purpose: str
    channel: str
    product_code: str
    credit_amount: str
    requested_by: str | None
    steps: tuple[StepView, ...]
    footprints: tuple[FootprintView, ...]
    flagged: bool
    flag_reason: str | None
    flagged_at: str | None
    retention_until: str | None
    legal_hold: bool
    #: The retention sweep or an erasure removed its personal data; the row stays.
    purged: bool
    subject_id: str | None
    joint_subject_id: str | None
    automated_decision: bool
    review_available: bool
    #: automated, version, review, fraud_cases, how_to_contest (the review service's view).
    review: dict[str, Any]
    created_at: str | None
    finished_at: str | None
    runs: int
    timeline: tuple[TimelineEntry, ...]
    associations: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        """The JSON view, keys in their documented order (review keys after review_available)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "review":
                out.update(self.review)
            else:
                out[f.name] = _plain(getattr(self, f.name))
        return out


def _plain(value: Any) -> Any:
    """Nested views as dicts (lists of them as lists); anything else as it is."""
    if isinstance(value, tuple):
        return [asdict(v) for v in value]
    return value


def check_review_view(s: Session, c: Check, cipher: Cipher, sla: timedelta) -> dict[str, Any]:
    """The human-review part of ``show``: ``automated``, ``review``, fraud cases, contest text.

    ``review`` is the latest review; its representations are shown to the operator (who must
    read them to decide) but never written to logs or the audit trail.
    """
    from checks.fraud_store import case_state  # it imports the store

    review = s.scalars(
        select(Review).where(Review.check_id == c.id).order_by(Review.id.desc()).limit(1)
    ).first()
    cases = s.scalars(
        select(FraudCaseRecord)
        .where(FraudCaseRecord.check_id == c.id)
        .order_by(FraudCaseRecord.proposed_at)
    ).all()
    return {
        "automated": bool(c.automated),
        "version": c.version,
        "review": None
        if review is None
        else {
            "kind": review.kind,
            "status": review.status,
            "requested_at": iso(review.requested_at),
            "due_at": iso(review.due_at),
            "representations": cipher.decrypt(review.representations_enc)
            if review.representations_enc
            else None,
            "previous_decision": review.previous_decision,
            "decision": review.decision,
            "reviewer": review.reviewer,
            "note": cipher.decrypt(review.note_enc) if review.note_enc else None,
            "decided_at": iso(review.decided_at),
        },
        "fraud_cases": [case_state(r).as_dict() for r in cases],
        "how_to_contest": how_to_contest(c.decision, bool(c.automated), c.id, sla),
    }


def read_check_view(store: ReadStore, check_id: str) -> CheckView:
    """Read one check's view; :class:`CheckNotFound` if there is no such check."""
    with store.session() as s:
        c = s.get(Check, check_id)
        if c is None:
            raise CheckNotFound(check_id)
        timeline = s.scalars(
            select(AuditEvent).where(AuditEvent.check_id == check_id).order_by(AuditEvent.id)
        ).all()
        sla = timedelta(hours=store.settings.review_sla_hours)
        return CheckView(
            id=c.id,
            idempotency_key=c.idempotency_key,
            status=c.status,
            decision=c.decision,
            reasons=tuple(ReasonView(r.code, r.text, r.agency) for r in c.reasons),
            failure_reason=c.failure_reason,
            purpose=c.purpose,
            channel=c.channel,
            product_code=c.product_code,
            credit_amount=str(c.credit_amount),
            requested_by=c.requested_by,
            steps=tuple(
                StepView(
                    agency=st.agency,
                    slot=st.slot,
                    role=st.role,
                    search_type=st.search_type,
                    status=st.status,
                    attempts=st.attempts,
                    error=st.error,
                    client_ref=st.client_ref,
                    possibly_sent=st.sent_in_run is not None,
                )
                for st in c.steps
            ),
            footprints=tuple(
                FootprintView(
                    agency=f.agency,
                    search_type=f.search_type,
                    purpose_code=f.purpose_code,
                    searched_at=iso(f.searched_at),
                    client_ref=f.client_ref,
                    state=f.state,
                    confirmed_at=iso(f.confirmed_at),
                )
                for f in c.footprints
            ),
            flagged=c.flagged,
            flag_reason=c.flag_reason,
            flagged_at=iso(c.flagged_at),
            retention_until=iso(c.retention_until),
            legal_hold=c.legal_hold,
            purged=c.purged_at is not None,
            subject_id=c.subject_id,
            joint_subject_id=c.joint_subject_id,
            automated_decision=c.automated and c.decision is not None,
            review_available=c.decision == "decline",
            review=check_review_view(s, c, store.cipher, sla),
            created_at=iso(c.created_at),
            finished_at=iso(c.finished_at),
            runs=c.runs,
            timeline=tuple(TimelineEntry(iso(e.at), e.actor, e.action, e.detail) for e in timeline),
            associations=store.associations.of_check(s, check_id),
        )
