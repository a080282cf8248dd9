"""Subject access: finding a person's subjects and exporting everything held about one.

The export is the person's own data, decrypted; other people named in it (associates on a
credit file) are only counted. Retention (:mod:`checks.retention_store`) builds on this part.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from agencies.contract import Person, ResultEnvelope
from checks.errors import CheckError
from checks.identity import identity_hashes
from checks.models import (
    Association,
    Check,
    Footprint,
    Reason,
    Step,
    Subject,
    SubjectFlag,
    SubjectIdentity,
    iso,
)
from checks.retention import RetentionPolicy
from checks.store import Store

_Row = TypeVar("_Row")


class SubjectNotFound(CheckError):
    """No subject has this id."""


class SubjectAccessStore:
    """Reads of one person's data for their subject access request."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.cipher = store.cipher
        #: How long each record and flag is kept (the export says until when).
        self.policy = RetentionPolicy(
            retention_days=store.settings.retention_days,
            flagged_years=store.settings.flagged_retention_years,
        )

    def find(self, person: Person) -> list[str]:
        """The subjects matching a person by any postcode of their address history."""
        _stored, lookup = identity_hashes(self.cipher, person)
        with self.store.session() as s:
            ids = s.scalars(
                select(SubjectIdentity.subject_id).where(SubjectIdentity.identity_hash.in_(lookup))
            ).all()
            # Two indexed lookups rather than one OR; a subject the purge reached is not found.
            live = select(Subject.id, Subject.created_at).where(Subject.purged_at.is_(None))
            rows = {
                r.id: r.created_at
                for q in (
                    live.where(Subject.id.in_(ids)),
                    live.where(Subject.identity_hash.in_(lookup)),
                )
                for r in s.execute(q)
            }
        return sorted(rows, key=lambda sid: rows[sid])

    def export_data(self, subject_id: str) -> dict[str, Any]:
        """Everything held about one subject, decrypted; no other person's personal data."""
        with self.store.session() as s:
            subject = s.get(Subject, subject_id)
            if subject is None:
                raise SubjectNotFound(f"no subject {subject_id}")
            personal = json.loads(self.cipher.decrypt(subject.pii)) if subject.pii else None
            checks = _rows(
                s,
                Check,
                (Check.subject_id == subject_id) | (Check.joint_subject_id == subject_id),
                Check.created_at,
            )
            check_ids = [c.id for c in checks]
            steps = _rows(s, Step, Step.check_id.in_(check_ids), Step.id)
            reasons = _rows(s, Reason, Reason.check_id.in_(check_ids), Reason.position)
            footprints = _rows(
                s, Footprint, Footprint.subject_id == subject_id, Footprint.searched_at
            )
            associations = _rows(
                s,
                Association,
                (Association.subject_a == subject_id) | (Association.subject_b == subject_id),
                Association.linked_at,
            )
            flags = _rows(
                s, SubjectFlag, SubjectFlag.subject_id == subject_id, SubjectFlag.flagged_at
            )
            purpose_of = {c.id: c.purpose for c in checks}
            out_checks = []
            for c in checks:
                role = "applicant" if c.subject_id == subject_id else "joint"
                out_checks.append(
                    {
                        "id": c.id,
                        "role": role,
                        "purpose": c.purpose,
                        "product_code": c.product_code,
                        "status": c.status,
                        "decision": c.decision,
                        "reasons": [
                            {"code": r.code, "text": r.text, "agency": r.agency}
                            for r in reasons
                            if r.check_id == c.id
                        ],
                        "failure_reason": c.failure_reason,
                        "submitted_at": iso(c.created_at),
                        "decided_at": iso(c.finished_at),
                        "purged": c.purged_at is not None,
                        "agency_results": [
                            self._plain_result(st)
                            for st in steps
                            if st.check_id == c.id and _step_role(st.role) == role
                        ],
                    }
                )
            return {
                "subject_id": subject_id,
                "personal_data": personal,
                "purged": subject.purged_at is not None,
                "legal_hold": subject.legal_hold,
                "checks": out_checks,
                "footprints": [
                    {
                        "agency": f.agency,
                        "search_type": f.search_type,
                        "searched_at": iso(f.searched_at),
                        "purpose": purpose_of.get(f.check_id),
                        "purpose_code": f.purpose_code,
                        "check_id": f.check_id,
                    }
                    for f in footprints
                ],
                # The associate by id only: never their personal data in this person's export.
                "associations": [
                    {
                        "id": a.id,
                        "associate_subject_id": a.subject_b
                        if a.subject_a == subject_id
                        else a.subject_a,
                        "source": a.source,
                        "source_check_id": a.source_check_id,
                        "linked_at": iso(a.linked_at),
                        "disassociated_at": iso(a.disassociated_at),
                        "status": "broken" if a.disassociated_at else "active",
                    }
                    for a in associations
                ],
                "flags": [
                    {
                        "reason": f.reason,
                        "source": f.source,
                        "check_id": f.check_id,
                        "flagged_at": iso(f.flagged_at),
                        "kept_through": (
                            self.policy.flag_purge_from(f.flagged_at.astimezone(UTC).date())
                            - timedelta(days=1)
                        ).isoformat(),
                    }
                    for f in flags
                ],
            }

    def _plain_result(self, st: Step) -> dict[str, Any]:
        """A step's agency answer in plain form, without anyone else's personal data."""
        out: dict[str, Any] = {
            "agency": st.agency,
            "search_type": st.search_type,
            "status": st.status,
            "searched_at": iso(st.started_at),
        }
        if st.result_enc:
            result = ResultEnvelope.model_validate_json(self.cipher.decrypt(st.result_enc)).result
            plain = result.model_dump(mode="json")
            # Associates named on a credit file are other people: only how many there are.
            if "associates" in plain:
                plain["associates_reported"] = len(plain.pop("associates"))
            out["result"] = plain
        return out


def _step_role(role: str) -> str:
    return "joint" if role == "joint" else "applicant"


def _rows(
    s: Session, model: type[_Row], where: ColumnElement[bool], order_by: Any
) -> Sequence[_Row]:
    """Every row of ``model`` that matches ``where``, in ``order_by`` order."""
    return s.scalars(select(model).where(where).order_by(order_by)).all()
