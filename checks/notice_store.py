"""Disassociation: breaking a financial association and its notices to each CRA.

A break is recorded, and a notice queued for each CRA, in one transaction; from its commit the
association is never used in a decision. Each notice is then sent once and its answer recorded;
one with no progress is found again by the reconciler.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from agencies.contract import DisassociationNotice, NoticeReceipt, Person
from checks.associations import (
    ANSWERED,
    STATUS_OF_ANSWER,
    AlreadyBroken,
    AssociationNotFound,
    AssociationStatus,
    IdentityUnavailable,
    NoticeStatus,
    RequestedBy,
    status_after_answers,
)
from checks.models import Association, DisassociationNoticeRow, Subject, utcnow
from checks.reconcile_store import stamp_stale
from checks.store import Store


@dataclass(frozen=True)
class NoticeToSend:
    """A notice ready to go to one CRA."""

    id: int
    association_id: int
    agency: str
    notice: DisassociationNotice


class NoticeStore:
    """Breaking associations and the notices that tell the CRAs."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.cipher = store.cipher

    # -- disassociation ----------------------------------------------------------------------

    def record_break(
        self,
        association_id: int,
        requested_by: RequestedBy,
        note: str | None,
        actor: str,
        agencies: list[str],
    ) -> list[int]:
        """Record a disassociation and queue a notice to each CRA; returns the notices to send.

        From this commit on the association is never used in a decision. Asked again while
        it is still breaking, notices not yet answered are sent again (same client reference,
        so a CRA recognises them) and refused ones are sent anew (the joint account may have
        closed since). A broken association raises :class:`AlreadyBroken`.
        """
        now = utcnow()
        with self.store.session() as s:
            a = s.get(Association, association_id, with_for_update=True)
            if a is None:
                raise AssociationNotFound(f"no association {association_id}")
            if a.status == AssociationStatus.BROKEN.value:
                raise AlreadyBroken(f"association {association_id} is already broken")
            if a.status == AssociationStatus.ACTIVE.value:
                a.status = AssociationStatus.BREAKING.value
                a.disassociated_at = now
                a.break_requested_by = requested_by.value
                a.break_note_enc = self.cipher.encrypt(note) if note else None
                notices = [
                    DisassociationNoticeRow(
                        association_id=a.id,
                        agency=agency,
                        # Fixed now: every resend of this notice carries it.
                        client_ref=uuid.uuid4().hex,
                        status=NoticeStatus.QUEUED.value,
                        attempts=0,
                        created_at=now,
                        updated_at=now,
                    )
                    for agency in sorted(agencies)
                ]
                s.add_all(notices)
                s.flush()
                Store._audit(
                    s,
                    actor,
                    "disassociation_recorded",
                    None,
                    association=a.id,
                    requested_by=requested_by.value,
                    agencies=sorted(agencies),
                )
                return [n.id for n in notices]
            again = list(
                s.scalars(
                    select(DisassociationNoticeRow).where(
                        DisassociationNoticeRow.association_id == a.id,
                        DisassociationNoticeRow.status != NoticeStatus.ACCEPTED.value,
                    )
                )
            )
            for n in again:
                if n.status == NoticeStatus.REFUSED.value:
                    n.client_ref = uuid.uuid4().hex
                    n.status = NoticeStatus.QUEUED.value
                    n.detail = None
                n.gave_up_at = None
                n.updated_at = now
            Store._audit(
                s,
                actor,
                "disassociation_resent",
                None,
                association=a.id,
                requested_by=requested_by.value,
                agencies=sorted(n.agency for n in again),
            )
            return [n.id for n in again]

    def notice_to_send(self, notice_id: int) -> NoticeToSend | None:
        """The notice with both people's identities, counting the attempt; None if answered."""
        now = utcnow()
        with self.store.session() as s:
            n = s.get(DisassociationNoticeRow, notice_id, with_for_update=True)
            if n is None:
                raise AssociationNotFound(f"no notice {notice_id}")
            if NoticeStatus(n.status) in ANSWERED:
                return None
            a = s.get(Association, n.association_id)
            assert a is not None and a.disassociated_at is not None
            person, associate = (self._person(s, sid) for sid in (a.subject_a, a.subject_b))
            n.attempts += 1
            n.updated_at = now
            return NoticeToSend(
                n.id,
                a.id,
                n.agency,
                DisassociationNotice(
                    client_ref=n.client_ref,
                    person=person,
                    associate=associate,
                    ended_on=a.disassociated_at.date(),
                    requested_by=RequestedBy(a.break_requested_by or "operator").value,
                ),
            )

    def _person(self, s: Session, subject_id: str) -> Person:
        subject = s.get(Subject, subject_id)
        if subject is None or subject.pii is None:
            raise IdentityUnavailable(f"subject {subject_id} has no identity held to send")
        return Person.model_validate_json(self.cipher.decrypt(subject.pii))

    def record_answer(self, notice_id: int, receipt: NoticeReceipt) -> NoticeStatus:
        """Record a CRA's answer; break the association once every CRA has accepted."""
        now = utcnow()
        status = STATUS_OF_ANSWER[receipt.answer]
        with self.store.session() as s:
            n = s.get(DisassociationNoticeRow, notice_id)
            if n is None:
                raise AssociationNotFound(f"no notice {notice_id}")
            # The association row is locked first, so two CRAs answering at once cannot both
            # miss that the other has answered.
            a = s.get(Association, n.association_id, with_for_update=True)
            assert a is not None
            n.status = status.value
            n.agency_ref = receipt.agency_ref or n.agency_ref
            n.detail = receipt.detail or None
            n.updated_at = now
            s.flush()
            Store._audit(
                s,
                "worker",
                "notice_answered",
                None,
                association=a.id,
                agency=n.agency,
                answer=receipt.answer.value,
            )
            statuses = [
                NoticeStatus(x)
                for x in s.scalars(
                    select(DisassociationNoticeRow.status).where(
                        DisassociationNoticeRow.association_id == a.id
                    )
                )
            ]
            if a.status == AssociationStatus.BREAKING.value and all(
                x in ANSWERED for x in statuses
            ):
                after = status_after_answers(statuses)
                if after is AssociationStatus.BROKEN:
                    a.status = after.value
                    a.broken_at = now
                    Store._audit(s, "worker", "association_broken", None, association=a.id)
                else:
                    refused = sorted(
                        r.agency
                        for r in s.scalars(
                            select(DisassociationNoticeRow).where(
                                DisassociationNoticeRow.association_id == a.id,
                                DisassociationNoticeRow.status == NoticeStatus.REFUSED.value,
                            )
                        )
                    )
                    Store._audit(
                        s,
                        "worker",
                        "disassociation_refused",
                        None,
                        association=a.id,
                        agencies=refused,
                    )
        return status

    def record_failure(self, notice_id: int, error: str, *, final: bool) -> None:
        """Record why a send failed (the notice stays queued); ``final``: no more retries."""
        now = utcnow()
        with self.store.session() as s:
            s.execute(
                update(DisassociationNoticeRow)
                .where(DisassociationNoticeRow.id == notice_id)
                .values(detail=error[:500], updated_at=now, gave_up_at=now if final else None)
            )
            if final:
                Store._audit(s, "worker", "notice_failed", None, notice=notice_id)

    def claim_stale_notices(self, stale_after: timedelta, limit: int = 500) -> list[int]:
        """Unanswered notices with no attempt for ``stale_after`` (their message was lost).

        Each is stamped as it is claimed, so concurrent reconcilers re-queue it only once.
        Notices given up on are left for an operator.
        """
        now = utcnow()
        cutoff = now - stale_after
        row = DisassociationNoticeRow
        unanswered = (NoticeStatus.QUEUED.value, NoticeStatus.SENT.value)
        stale = select(row.id).where(
            row.status.in_(unanswered), row.updated_at <= cutoff, row.gave_up_at.is_(None)
        )
        with self.store.session() as s:
            ids = s.scalars(stale.limit(limit)).all()
            claimed = stamp_stale(s, row.id, row.updated_at, ids, cutoff, now)
            for notice_id in claimed:
                Store._audit(s, "reconciler", "notice_requeued", None, notice=notice_id)
        return claimed
