"""The store part of fraud cases: proposal, a second person's confirmation, withdrawal.

Confirming a case declines the check, flags the subject and queues the filing in one
transaction; the evidence is personal data, encrypted and never in the audit trail. The filing
itself is :mod:`checks.filing_store`.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from checks.models import Check, FraudCaseRecord, SubjectFlag, iso, utcnow
from checks.policy import Decision, Flag
from checks.retention import add_years
from checks.review import (
    CONFIRMED_FRAUD_REASON,
    CaseStatus,
    CaseType,
    FilingStatus,
    ReviewConflict,
    ReviewRefused,
    due_at,
    retention_after_confirmation,
    same_person,
)
from checks.review_store import Outcome, ReviewStore
from checks.store import Store


@dataclass(frozen=True)
class CaseState:
    """A fraud case as operators see it (no evidence text)."""

    case_id: str
    check_id: str
    case_type: str
    status: str
    proposed_by: str
    proposed_at: datetime
    confirmed_by: str | None
    confirmed_at: datetime | None
    withdrawn_by: str | None
    filing_status: str | None
    filing_attempts: int
    filing_error: str | None
    cifas_reference: str | None
    filed_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        """JSON form (``fraud show --json`` and the check's ``fraud_cases``): the case's own
        fields in order, times in ISO 8601, then its ``filing`` (null before confirmation)."""
        data = {
            name: iso(value) if isinstance(value, datetime) else value
            for name, value in asdict(self).items()
        }
        filing = {key: data.pop(name) for key, name in _FILING_FIELDS.items()}
        data["filing"] = None if self.filing_status is None else filing
        return data


#: The ``filing`` object's keys, and the :class:`CaseState` fields they come from.
_FILING_FIELDS = {
    "status": "filing_status",
    "attempts": "filing_attempts",
    "error": "filing_error",
    "cifas_reference": "cifas_reference",
    "filed_at": "filed_at",
}


def case_state(r: FraudCaseRecord) -> CaseState:
    """A fraud case's row as operators see it."""
    return CaseState(
        case_id=r.id,
        check_id=r.check_id,
        case_type=r.case_type,
        status=r.status,
        proposed_by=r.proposed_by,
        proposed_at=r.proposed_at,
        confirmed_by=r.confirmed_by,
        confirmed_at=r.confirmed_at,
        withdrawn_by=r.withdrawn_by,
        filing_status=r.filing_status,
        filing_attempts=r.filing_attempts,
        filing_error=r.filing_error,
        cifas_reference=r.cifas_reference,
        filed_at=r.filed_at,
    )


class FraudCaseStore(ReviewStore):
    """Transactions for fraud cases: proposal, confirmation, withdrawal."""

    # -- fraud cases ------------------------------------------------------------------------

    def propose(
        self,
        check_id: str,
        case_type: CaseType,
        evidence: str,
        proposed_by: str,
        now: datetime | None = None,
    ) -> CaseState:
        """Record a proposed case; it waits for a second person's confirmation."""
        now = now or utcnow()
        with self.store.session() as s:
            c = self._decided_check(s, check_id)
            live = s.scalar(
                select(FraudCaseRecord.id).where(
                    FraudCaseRecord.check_id == check_id,
                    FraudCaseRecord.status.in_(
                        (CaseStatus.PROPOSED.value, CaseStatus.CONFIRMED.value)
                    ),
                )
            )
            if live is not None:
                raise ReviewRefused(
                    "case_exists", f"check {check_id} already has fraud case {live}"
                )
            record = FraudCaseRecord(
                id=str(uuid.uuid4()),
                check_id=check_id,
                subject_id=c.subject_id,
                case_type=case_type.value,
                evidence_enc=self.cipher.encrypt(evidence),
                client_ref=uuid.uuid4().hex,
                status=CaseStatus.PROPOSED.value,
                proposed_by=proposed_by,
                proposed_at=now,
                due_at=due_at(now, self.sla),
                filing_attempts=0,
            )
            s.add(record)
            s.flush()
            Store._audit(
                s,
                proposed_by,
                "fraud_proposed",
                check_id,
                case_id=record.id,
                case_type=case_type.value,
                evidence="provided",
            )
            return case_state(record)

    @staticmethod
    def _case(s: Session, case_id: str) -> FraudCaseRecord:
        record = s.get(FraudCaseRecord, case_id)
        if record is None:
            raise ReviewRefused("not_found", f"no fraud case {case_id}")
        return record

    @staticmethod
    def _move_proposal(s: Session, case_id: str, **values: Any) -> bool:
        """Change a case that is still proposed (confirm or withdraw it); False if it is not.

        One conditional update: of two people acting on one proposal at once, one wins.
        """
        res = s.execute(
            update(FraudCaseRecord)
            .where(
                FraudCaseRecord.id == case_id,
                FraudCaseRecord.status == CaseStatus.PROPOSED.value,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool(res.rowcount == 1)  # type: ignore[attr-defined]

    def confirm(self, case_id: str, confirmed_by: str, now: datetime | None = None) -> Outcome:
        """A second person confirms: decline, flag the subject, and queue the filing.

        The flag and the six-year retention start at the confirmation. Everything is one
        transaction, so a crash leaves the case either proposed or confirmed-and-pending (and
        a pending filing is re-sent by the reconciler), never half done.
        """
        now = now or utcnow()
        with self.store.session() as s:
            record = self._case(s, case_id)
            if record.status != CaseStatus.PROPOSED.value:
                raise ReviewRefused(
                    "not_proposed", f"fraud case {case_id} is {record.status}, not proposed"
                )
            if same_person(record.proposed_by, confirmed_by):
                raise ReviewRefused(
                    "same_person",
                    f"fraud case {case_id} must be confirmed by someone other than "
                    "the person who proposed it",
                )
            if not self._move_proposal(
                s,
                case_id,
                status=CaseStatus.CONFIRMED.value,
                confirmed_by=confirmed_by,
                confirmed_at=now,
                filing_status=FilingStatus.PENDING.value,
                filing_progress_at=now,
            ):
                raise ReviewConflict(f"fraud case {case_id} was changed by someone else")
            c = s.get(Check, record.check_id)
            assert c is not None  # a foreign key
            years = self.store.settings.flagged_retention_years
            changes: dict[str, Any] = {
                "retention_until": retention_after_confirmation(
                    c.retention_until, add_years(now, years)
                )
            }
            if not c.flagged:  # an automated flag stays as it is
                changes.update(flagged=True, flag_reason=Flag.FRAUD_RISK.value, flagged_at=now)
            declined = c.decision != Decision.DECLINE.value
            if declined:  # the product is refused
                changes.update(decision=Decision.DECLINE.value, automated=False)
            self._bump(s, c.id, c.version, now, **changes)
            if declined:
                self._lead_reason(s, c.id, CONFIRMED_FRAUD_REASON)
            s.execute(
                insert(SubjectFlag).values(
                    subject_id=record.subject_id,
                    check_id=c.id,
                    reason=Flag.FRAUD_RISK.value,
                    source="confirmed_case",
                    flagged_at=now,
                )
            )
            Store._audit(
                s,
                confirmed_by,
                "fraud_confirmed",
                c.id,
                case_id=case_id,
                case_type=record.case_type,
                proposed_by=record.proposed_by,
                declined=declined,
            )
            return Outcome(c.id, Decision.DECLINE.value, notify=declined and bool(c.notify))

    def withdraw(self, case_id: str, withdrawn_by: str, now: datetime | None = None) -> CaseState:
        """Withdraw a proposal before it is confirmed; nothing is filed or flagged."""
        now = now or utcnow()
        with self.store.session() as s:
            record = self._case(s, case_id)
            if not self._move_proposal(
                s,
                case_id,
                status=CaseStatus.WITHDRAWN.value,
                withdrawn_by=withdrawn_by,
                withdrawn_at=now,
            ):
                raise ReviewRefused(
                    "not_proposed",
                    f"fraud case {case_id} is {record.status}: only a proposal can be withdrawn",
                )
            Store._audit(s, withdrawn_by, "fraud_withdrawn", record.check_id, case_id=case_id)
        return self.case(case_id)

    def case(self, case_id: str) -> CaseState:
        """One fraud case."""
        with self.store.session() as s:
            return case_state(self._case(s, case_id))
