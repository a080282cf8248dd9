"""The store part of filing confirmed fraud cases with Cifas: a lease per case, then its outcome.

A worker takes a case's filing lease, sends it, and records the outcome only while it still
holds the lease; a case left unfiled with no progress is found again by the reconciler.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import or_, select, update

from agencies.contract import FraudCase
from checks.errors import StepsPending
from checks.fraud_store import FraudCaseStore
from checks.inputs import CheckInputs
from checks.models import Check, FraudCaseRecord, utcnow
from checks.reconcile_store import stamp_stale
from checks.review import FILING_OPEN, CaseStatus, FilingStatus
from checks.store import Store

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class FilingJob:
    """A confirmed case a worker holds the filing lease on, ready to send."""

    case_id: str
    check_id: str
    owner: str
    case: FraudCase


class FilingBusy(StepsPending):
    """Another worker holds the case's filing lease: the job must be tried again later."""


class FilingStore(FraudCaseStore):
    """Transactions for a confirmed case's filing: the lease and the outcome."""

    # -- filing -----------------------------------------------------------------------------

    def claim_filing(self, case_id: str, owner: str, lease_seconds: float) -> FilingJob | None:
        """Take the filing lease on a confirmed, unfiled case; None if there is nothing to do
        (already filed or rejected, or not confirmed).

        Raises :class:`FilingBusy` if another worker holds a live lease on it.
        """
        now = utcnow()
        with self.store.session() as s:
            res = s.execute(
                update(FraudCaseRecord)
                .where(
                    FraudCaseRecord.id == case_id,
                    FraudCaseRecord.status == CaseStatus.CONFIRMED.value,
                    FraudCaseRecord.filing_status.in_(FILING_OPEN),
                    or_(
                        FraudCaseRecord.filing_lease_until.is_(None),
                        FraudCaseRecord.filing_lease_until < now,
                    ),
                )
                .values(
                    filing_owner=owner,
                    filing_lease_until=now + timedelta(seconds=lease_seconds),
                    filing_attempts=FraudCaseRecord.filing_attempts + 1,
                    filing_progress_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            record = self._case(s, case_id)
            if res.rowcount != 1:  # type: ignore[attr-defined]
                if record.status == CaseStatus.CONFIRMED.value and (
                    record.filing_status in FILING_OPEN
                ):
                    # Another worker holds a live lease. Try again later rather than drop the
                    # job: if that worker died, this redelivered message finishes the filing.
                    owner_now = record.filing_owner
                    raise FilingBusy(f"fraud case {case_id} is being filed by {owner_now}")
                return None
            c = s.get(Check, record.check_id)
            assert c is not None
            inputs = CheckInputs.model_validate_json(self.cipher.decrypt(c.request_enc or b""))
            case = FraudCase(
                client_ref=record.client_ref,
                case_type=record.case_type,  # type: ignore[arg-type]
                person=inputs.applicant,
                product_code=c.product_code,
                evidence_summary=self.cipher.decrypt(record.evidence_enc),
            )
            return FilingJob(case_id, record.check_id, owner, case)

    def _end_filing(self, job: FilingJob, action: str, status: FilingStatus, **values: Any) -> None:
        """Record the try's outcome and give up the lease, if this worker still holds it."""
        now = utcnow()
        with self.store.session() as s:
            res = s.execute(
                update(FraudCaseRecord)
                .where(FraudCaseRecord.id == job.case_id, FraudCaseRecord.filing_owner == job.owner)
                .values(
                    filing_status=status.value,
                    filing_owner=None,
                    filing_lease_until=None,
                    filing_progress_at=now,
                    **values,
                )
                .execution_options(synchronize_session=False)
            )
            if res.rowcount != 1:  # type: ignore[attr-defined]
                # The lease lapsed and another worker took the case over: its outcome counts
                # (a repeat reaches Cifas under the same case reference, which it recognises).
                log.warning("fraud.filing_lease_lost", case_id=job.case_id)
                return
            detail = {k: v for k, v in values.items() if k in ("cifas_reference", "filing_error")}
            Store._audit(s, "worker", action, job.check_id, case_id=job.case_id, **detail)

    def filed(self, job: FilingJob, reference: str) -> None:
        """Cifas took the case: store its reference."""
        done = dict(cifas_reference=reference, filed_at=utcnow(), filing_error=None)
        self._end_filing(job, "fraud_filed", FilingStatus.FILED, **done)

    def rejected(self, job: FilingJob, reason: str) -> None:
        """Cifas refused the case: kept with the reason, not retried."""
        self._end_filing(job, "fraud_filing_rejected", FilingStatus.REJECTED, filing_error=reason)

    def retrying(self, job: FilingJob, reason: str) -> None:
        """Cifas could not be reached: the lease is released and the filing tried again."""
        self._end_filing(job, "fraud_filing_retry", FilingStatus.RETRYING, filing_error=reason)

    def stale_filings(self, stale_after: timedelta, limit: int = 100) -> list[str]:
        """Confirmed cases still unfiled with no progress for ``stale_after``; stamped so
        that concurrent reconcilers re-send each only once."""
        now = utcnow()
        cutoff = now - stale_after
        with self.store.session() as s:
            ids = s.scalars(
                select(FraudCaseRecord.id)
                .where(
                    FraudCaseRecord.status == CaseStatus.CONFIRMED.value,
                    FraudCaseRecord.filing_status.in_(FILING_OPEN),
                    FraudCaseRecord.filing_progress_at <= cutoff,
                    or_(
                        FraudCaseRecord.filing_lease_until.is_(None),
                        FraudCaseRecord.filing_lease_until < now,
                    ),
                )
                .limit(limit)
            ).all()
            return stamp_stale(
                s, FraudCaseRecord.id, FraudCaseRecord.filing_progress_at, ids, cutoff, now
            )
