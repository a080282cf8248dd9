"""The store's submission part: a check, its subjects and its planned steps, written once.

A submission is one transaction: the subjects are found (by any postcode of their address
history) or added, the check and its steps are inserted, and the run message is recorded in the
outbox to be sent after the commit. The idempotency key makes a repeat return the same check;
the same key with a different request is refused.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from agencies.contract import AgencyKind, Role, SearchType
from checks import outbox
from checks.associations import AssociationSource
from checks.database import Database
from checks.errors import IdempotencyConflict
from checks.identity import identity_hashes
from checks.inputs import CheckInputs
from checks.models import Check, Step, Subject, SubjectIdentity, utcnow
from checks.plans import PlannedStep
from checks.states import CheckStatus, StepStatus


@dataclass(frozen=True)
class Submitted:
    """The result of a submission: the check id and whether it was new."""

    check_id: str
    created: bool


class SubmitStore(Database):
    """Submissions: checks, subjects and planned steps."""

    def _upsert_subject(self, s: Session, inputs_person: Any, now: datetime) -> str:
        # Found by any postcode of the address history, so a person who moved is one subject.
        stored, lookup = identity_hashes(self.cipher, inputs_person)
        pii = self.cipher.encrypt(inputs_person.model_dump_json())
        found = self._find_subject(s, lookup)
        if found is None:
            subject = Subject(
                id=str(uuid.uuid4()), identity_hash=stored[0], pii=pii, created_at=now
            )
            try:
                # A savepoint: two first checks for one new person may race to insert it.
                with s.begin_nested():
                    s.add(subject)
                found = subject
            except IntegrityError:
                found = self._find_subject(s, lookup)
                if found is None:
                    raise
        # Keep the newest details, and every postcode's hash under the newest key (rotation).
        found.pii = pii
        found.erased_at = found.purged_at = None
        known = set(
            s.scalars(
                select(SubjectIdentity.identity_hash).where(
                    SubjectIdentity.identity_hash.in_(stored)
                )
            )
        )
        for h in stored:
            if h in known:
                continue
            try:
                with s.begin_nested():
                    s.add(SubjectIdentity(subject_id=found.id, identity_hash=h, created_at=now))
            except IntegrityError:
                pass  # a concurrent check of the same person added it first
        return found.id

    @staticmethod
    def _find_subject(s: Session, hashes: Sequence[str]) -> Subject | None:
        """The oldest live subject matching any of the hashes (rows from before 0005 too)."""
        live = select(Subject).where(Subject.purged_at.is_(None)).order_by(Subject.created_at)
        # Two indexed lookups, not one OR (which PostgreSQL may answer with a table scan).
        ids = s.scalars(
            select(SubjectIdentity.subject_id).where(SubjectIdentity.identity_hash.in_(hashes))
        ).all()
        found = s.scalars(live.where(Subject.id.in_(ids))).first() if ids else None
        return found or s.scalars(live.where(Subject.identity_hash.in_(hashes))).first()

    def create_check(
        self,
        *,
        idempotency_key: str,
        canonical_request: str,
        inputs: CheckInputs,
        plan: Sequence[PlannedStep],
        requested_by: str,
        notify: dict[str, Any] | None,
        actor: str = "api",
    ) -> Submitted:
        """Insert a check, its subjects and its planned steps in one transaction.

        The same idempotency key returns the existing check; a different request under a key
        already used is refused rather than silently answered with another check's outcome.
        """
        digest = hashlib.sha256(canonical_request.encode()).hexdigest()
        existing = self._by_key(idempotency_key, digest)
        if existing is not None:
            return Submitted(existing, created=False)
        now = utcnow()
        check_id = str(uuid.uuid4())
        try:
            with self.session() as s:
                subject_id = self._upsert_subject(s, inputs.applicant, now)
                joint_id = self._upsert_subject(s, inputs.joint, now) if inputs.joint else None
                associate_ids = [self._upsert_subject(s, p, now) for p in inputs.associates]
                s.add(
                    Check(
                        id=check_id,
                        idempotency_key=idempotency_key,
                        request_digest=digest,
                        request_enc=self.cipher.encrypt(inputs.model_dump_json()),
                        purpose=inputs.purpose,
                        channel=inputs.channel,
                        product_code=inputs.product_code,
                        credit_amount=inputs.credit_amount,
                        requested_by=requested_by,
                        notify=notify,
                        subject_id=subject_id,
                        joint_subject_id=joint_id,
                        status=CheckStatus.QUEUED,
                        created_at=now,
                        updated_at=now,
                        progress_at=now,
                    )
                )
                s.flush()
                for p in plan:
                    s.add(self._new_step(check_id, p.slot, p.kind, p.agency, p.role, p.search_type))
                # The run message is recorded with the check and sent after the commit.
                outbox.record(s, check_id)
                self._audit(
                    s,
                    actor,
                    "submitted",
                    check_id,
                    requested_by=requested_by,
                    purpose=inputs.purpose,
                    steps=[p.slot + "@" + p.agency for p in plan],
                )
                # The applicant told us they are financially linked to these people.
                for associate_id in associate_ids:
                    self.associations.link(
                        s,
                        subject_id,
                        associate_id,
                        AssociationSource.DECLARED,
                        check_id=check_id,
                        actor=requested_by,
                        now=now,
                    )
        except IntegrityError:
            # A concurrent submission with the same key won the race: answer with its check.
            existing = self._by_key(idempotency_key, digest)
            if existing is None:
                raise
            return Submitted(existing, created=False)
        return Submitted(check_id, created=True)

    def _by_key(self, key: str, digest: str) -> str | None:
        with self.session() as s:
            row = s.execute(
                select(Check.id, Check.request_digest).where(Check.idempotency_key == key)
            ).first()
        if row is None:
            return None
        if row.request_digest != digest:
            raise IdempotencyConflict(
                f"idempotency_key {key!r} was already used for a different request (check {row.id})"
            )
        return str(row.id)

    @staticmethod
    def _new_step(
        check_id: str, slot: str, kind: AgencyKind, agency: str, role: Role, search_type: SearchType
    ) -> Step:
        return Step(
            check_id=check_id,
            slot=slot,
            kind=kind.value,
            agency=agency,
            role=role.value,
            search_type=search_type.value,
            # Stable for the life of the step: a retry sends the same reference, so an agency
            # that already searched recognises the repeat instead of leaving a second footprint.
            client_ref=uuid.uuid4().hex,
            status=StepStatus.PENDING,
            attempts=0,
        )
