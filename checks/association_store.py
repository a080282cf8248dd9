"""The associations' part of the store: links with their evidence, and their uses.

Linking runs inside the transaction that records its evidence (a check's submission or its
decision), so a link and its reason are written together or not at all. Everything else is one
transaction per public method, like :class:`checks.store.Store`. Breaking a link and the
notices to the CRAs are :mod:`checks.notice_store`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from agencies.contract import AgencyKind, CreditResult, ResultEnvelope, SearchType
from checks import direct
from checks import statements as q
from checks.associations import (
    AssociateCredit,
    AssociationNotFound,
    AssociationSource,
    AssociationStatus,
    joint_application_links,
    pair,
)
from checks.models import (
    Association,
    AssociationEvidence,
    AssociationUse,
    DisassociationNoticeRow,
    Step,
    Subject,
    iso,
)
from checks.notice_store import NoticeStore
from checks.states import StepStatus
from checks.store import Store

Tx = Session | Connection


class AssociationStore(NoticeStore):
    """Reads and writes of associations, on the checks database of a :class:`Store`.

    Breaking an association and its notices to the CRAs are :class:`NoticeStore`'s part.
    """

    # -- linking (inside the caller's transaction) ------------------------------------------

    def link(
        self,
        tx: Tx,
        a: str,
        b: str,
        source: AssociationSource,
        *,
        check_id: str | None,
        actor: str,
        now: datetime,
        note: str | None = None,
    ) -> int:
        """Link two subjects (one active association per pair) and add this evidence to it.

        Returns the association id. The same check's evidence is recorded once, so a
        redelivered decision adds nothing.
        """
        first, second = pair(a, b)
        association_id = self._active(tx, first, second)
        if association_id is None:
            try:
                # A savepoint: two checks linking one new pair may race to insert it.
                with tx.begin_nested():
                    association_id = int(
                        tx.execute(
                            insert(Association)
                            .values(
                                subject_a=first,
                                subject_b=second,
                                source=source.value,
                                source_check_id=check_id,
                                linked_at=now,
                                status=AssociationStatus.ACTIVE.value,
                            )
                            .returning(Association.id)
                        ).scalar_one()
                    )
            except IntegrityError:
                # Another transaction linked the pair first: this evidence joins that one.
                association_id = self._active(tx, first, second)
                if association_id is None:
                    raise
            else:
                Store._audit(
                    tx,
                    actor,
                    "association_linked",
                    check_id,
                    association=association_id,
                    source=source.value,
                )
        if check_id is not None:
            seen = tx.execute(
                select(AssociationEvidence.id).where(
                    AssociationEvidence.association_id == association_id,
                    AssociationEvidence.source == source.value,
                    AssociationEvidence.check_id == check_id,
                )
            ).first()
            if seen is not None:
                return association_id
        tx.execute(
            insert(AssociationEvidence).values(
                association_id=association_id,
                source=source.value,
                check_id=check_id,
                actor=actor,
                note_enc=self.cipher.encrypt(note) if note else None,
                recorded_at=now,
            )
        )
        Store._audit(
            tx,
            actor,
            "association_evidence",
            check_id,
            association=association_id,
            source=source.value,
        )
        return association_id

    @staticmethod
    def _active(tx: Tx, first: str, second: str) -> int | None:
        found = tx.execute(
            select(Association.id).where(
                Association.subject_a == first,
                Association.subject_b == second,
                Association.status == AssociationStatus.ACTIVE.value,
            )
        ).scalar()
        return None if found is None else int(found)

    def link_joint_application(
        self, tx: Tx, check_id: str, subject_id: str, joint_id: str, now: datetime
    ) -> int | None:
        """Link a decided joint application's applicants if it made a hard search.

        Returns the association id, or None for a joint quotation (soft searches only).
        """
        kinds = tx.execute(
            select(Step.search_type).where(
                Step.check_id == check_id,
                Step.status == StepStatus.COMPLETED,
                Step.kind == AgencyKind.CRA.value,
            )
        ).scalars()
        if not joint_application_links(True, (SearchType(k) for k in kinds)):
            return None
        return self.link(
            tx,
            subject_id,
            joint_id,
            AssociationSource.JOINT_APPLICATION,
            check_id=check_id,
            actor="worker",
            now=now,
        )

    # -- use in decisions --------------------------------------------------------------------

    def associate_credit(
        self, tx: Tx, check_id: str, *, max_age: timedelta, now: datetime
    ) -> list[AssociateCredit]:
        """The latest credit result of each active associate of the check's applicant,
        searched within ``max_age``.

        The check's joint applicant is left out: their own results are already in the
        decision. Results from this check are never read back.
        """
        found: list[AssociateCredit] = []
        for row in direct.rows(tx, q.CHECK_ASSOCIATIONS, dict(p_id=check_id)):
            other = row.subject_b if row.subject_a == row.subject_id else row.subject_a
            if other == row.joint_subject_id:
                continue
            hit = direct.first(
                tx, q.ASSOCIATE_CREDIT, dict(p_subject=other, p_id=check_id, p_since=now - max_age)
            )
            if hit is None or hit.result_enc is None:
                continue
            result = ResultEnvelope.model_validate_json(self.cipher.decrypt(hit.result_enc)).result
            if isinstance(result, CreditResult):
                # Stored naive UTC; checks.direct returns it as stored.
                searched_at = hit.searched_at.replace(tzinfo=UTC)
                found.append(
                    AssociateCredit(int(row.id), AssociationSource(row.source), searched_at, result)
                )
        return found

    @staticmethod
    def record_uses(tx: Tx, check_id: str, association_ids: set[int], now: datetime) -> None:
        """Record which associations a check's decision read."""
        for association_id in sorted(association_ids):
            exists = tx.execute(
                select(AssociationUse.id).where(
                    AssociationUse.check_id == check_id,
                    AssociationUse.association_id == association_id,
                )
            ).first()
            if exists is None:
                tx.execute(
                    insert(AssociationUse).values(
                        check_id=check_id, association_id=association_id, used_at=now
                    )
                )

    # -- reading -----------------------------------------------------------------------------

    def subject_exists(self, subject_id: str) -> bool:
        """Whether a subject with this id is known."""
        with self.store.session() as s:
            return s.get(Subject, subject_id) is not None

    def of_subject(self, subject_id: str) -> list[dict[str, Any]]:
        """Every association of a subject, active and broken, with evidence and notices."""
        with self.store.session() as s:
            rows = s.scalars(
                select(Association)
                .where(
                    or_(Association.subject_a == subject_id, Association.subject_b == subject_id)
                )
                .order_by(Association.id)
            ).all()
            return [self._view(s, a, subject_id) for a in rows]

    def get(self, association_id: int) -> dict[str, Any]:
        """One association, seen from its first subject."""
        with self.store.session() as s:
            a = s.get(Association, association_id)
            if a is None:
                raise AssociationNotFound(f"no association {association_id}")
            return self._view(s, a, a.subject_a)

    def of_check(self, tx: Tx, check_id: str) -> list[dict[str, Any]]:
        """The associations a check created (its evidence) or used (its decision read)."""
        created = set(
            tx.execute(
                select(AssociationEvidence.association_id).where(
                    AssociationEvidence.check_id == check_id
                )
            ).scalars()
        )
        used = set(
            tx.execute(
                select(AssociationUse.association_id).where(AssociationUse.check_id == check_id)
            ).scalars()
        )
        if not created | used:
            return []
        rows = tx.execute(
            select(Association).where(Association.id.in_(created | used)).order_by(Association.id)
        ).scalars()
        return [
            {
                "id": a.id,
                "subject_ids": [a.subject_a, a.subject_b],
                "source": a.source,
                "status": a.status,
                "created": a.id in created,
                "used": a.id in used,
            }
            for a in rows
        ]

    @staticmethod
    def _view(s: Session, a: Association, subject_id: str) -> dict[str, Any]:
        evidence = s.scalars(
            select(AssociationEvidence)
            .where(AssociationEvidence.association_id == a.id)
            .order_by(AssociationEvidence.id)
        ).all()
        notices = s.scalars(
            select(DisassociationNoticeRow)
            .where(DisassociationNoticeRow.association_id == a.id)
            .order_by(DisassociationNoticeRow.agency, DisassociationNoticeRow.id)
        ).all()
        return {
            "id": a.id,
            "subject_id": subject_id,
            "associate_subject_id": a.subject_b if a.subject_a == subject_id else a.subject_a,
            "source": a.source,
            "source_check_id": a.source_check_id,
            "linked_at": iso(a.linked_at),
            "status": a.status,
            "disassociated_at": iso(a.disassociated_at),
            "break_requested_by": a.break_requested_by,
            "broken_at": iso(a.broken_at),
            "evidence": [
                {
                    "source": e.source,
                    "check_id": e.check_id,
                    "actor": e.actor,
                    "recorded_at": iso(e.recorded_at),
                }
                for e in evidence
            ],
            "notices": [
                {
                    "agency": n.agency,
                    "status": n.status,
                    "updated_at": iso(n.updated_at),
                    "client_ref": n.client_ref,
                    "attempts": n.attempts,
                    "detail": n.detail,
                }
                for n in notices
            ],
        }
