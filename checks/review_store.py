"""The store part of human review and fraud filing: reviews, fraud cases, the queue.

Each public method is one transaction. Every change of a check's outcome by a person bumps the
check's ``version`` with ``UPDATE ... WHERE version = :seen``: of two reviewers deciding at
once, the second matches no row and gets :class:`~checks.review.ReviewConflict`, never a silent
overwrite. Representations, notes and evidence are personal data: encrypted, and never in the
audit trail (which records only that they were given).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import exists, func, insert, or_, select, update
from sqlalchemy.orm import Session

from agencies.contract import FraudCase
from checks.crypto import Cipher
from checks.errors import CheckNotFound, StepsPending
from checks.inputs import CheckInputs
from checks.models import Check, FraudCaseRecord, Reason, Review, SubjectFlag, utcnow
from checks.policy import Decision, Flag
from checks.review import (
    CONFIRMED_FRAUD_REASON,
    FILING_OPEN,
    CaseStatus,
    CaseType,
    FilingStatus,
    QueueItem,
    QueueKind,
    ReviewConflict,
    ReviewRefused,
    ReviewStatus,
    due_at,
    how_to_contest,
    human_reason,
    queue_order,
    retention_after_confirmation,
    review_target_kind,
    same_person,
)
from checks.states import CheckStatus
from checks.store import Store, _add_years

log = structlog.get_logger(__name__)


class FilingBusy(StepsPending):
    """Another worker holds the case's filing lease: the job must be tried again later."""


@dataclass(frozen=True)
class Outcome:
    """What a person's action changed: whether the requester must be told of a new outcome."""

    check_id: str
    decision: str
    notify: bool


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
        """JSON form (``fraud show --json`` and the check's ``fraud_cases``)."""
        return {
            "case_id": self.case_id,
            "check_id": self.check_id,
            "case_type": self.case_type,
            "status": self.status,
            "proposed_by": self.proposed_by,
            "proposed_at": _iso(self.proposed_at),
            "confirmed_by": self.confirmed_by,
            "confirmed_at": _iso(self.confirmed_at),
            "withdrawn_by": self.withdrawn_by,
            "filing": None
            if self.filing_status is None
            else {
                "status": self.filing_status,
                "attempts": self.filing_attempts,
                "error": self.filing_error,
                "cifas_reference": self.cifas_reference,
                "filed_at": _iso(self.filed_at),
            },
        }


@dataclass(frozen=True)
class FilingJob:
    """A confirmed case a worker holds the filing lease on, ready to send."""

    case_id: str
    check_id: str
    owner: str
    case: FraudCase


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _case_state(r: FraudCaseRecord) -> CaseState:
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


def check_review_view(s: Session, c: Check, cipher: Cipher, sla: timedelta) -> dict[str, Any]:
    """The human-review part of ``show``: ``automated``, ``review``, fraud cases, contest text.

    ``review`` is the latest review; its representations are shown to the operator (who must
    read them to decide) but never written to logs or the audit trail.
    """
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
            "requested_at": _iso(review.requested_at),
            "due_at": _iso(review.due_at),
            "representations": cipher.decrypt(review.representations_enc)
            if review.representations_enc
            else None,
            "previous_decision": review.previous_decision,
            "decision": review.decision,
            "reviewer": review.reviewer,
            "note": cipher.decrypt(review.note_enc) if review.note_enc else None,
            "decided_at": _iso(review.decided_at),
        },
        "fraud_cases": [_case_state(r).as_dict() for r in cases],
        "how_to_contest": how_to_contest(c.decision, bool(c.automated), c.id, sla),
    }


class ReviewStore:
    """Transactions for reviews and fraud cases, on the checks store's database and keys."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.cipher = store.cipher

    @property
    def sla(self) -> timedelta:
        """The review service level: how long a person has to act."""
        return timedelta(hours=self.store.settings.review_sla_hours)

    # -- reviews ----------------------------------------------------------------------------

    @staticmethod
    def _decided_check(s: Session, check_id: str) -> Check:
        c = s.get(Check, check_id)
        if c is None:
            raise CheckNotFound(check_id)
        if c.status != CheckStatus.DECIDED or c.decision is None:
            raise ReviewRefused(
                "not_decided", f"check {check_id} is {c.status}: only a decision can be reviewed"
            )
        return c

    @staticmethod
    def _open_review(s: Session, check_id: str) -> Review | None:
        return s.scalars(
            select(Review)
            .where(Review.check_id == check_id, Review.status == ReviewStatus.OPEN.value)
            .order_by(Review.id.desc())
            .limit(1)
        ).first()

    @staticmethod
    def _bump(s: Session, check_id: str, seen: int, now: datetime, **values: Any) -> None:
        """Change the check only if nobody else did since ``seen`` (optimistic locking)."""
        res = s.execute(
            update(Check)
            .where(Check.id == check_id, Check.version == seen)
            .values(version=seen + 1, updated_at=now, **values)
            .execution_options(synchronize_session=False)
        )
        if res.rowcount != 1:  # type: ignore[attr-defined]
            raise ReviewConflict(
                f"check {check_id} was changed by someone else at the same time; "
                "reload it and try again"
            )

    def request(
        self, check_id: str, representations: str, requested_by: str, now: datetime | None = None
    ) -> datetime:
        """The applicant contests the automated decision; returns the review's due date."""
        now = now or utcnow()
        with self.store.session() as s:
            c = self._decided_check(s, check_id)
            if not c.automated:
                raise ReviewRefused(
                    "not_automated",
                    f"check {check_id} was decided by a person, not automatically",
                )
            if self._open_review(s, check_id) is not None:
                raise ReviewRefused(
                    "review_open", f"check {check_id} already has a review waiting for a person"
                )
            seen = c.version
            self._bump(s, check_id, seen, now)
            due = due_at(now, self.sla)
            s.add(
                Review(
                    check_id=check_id,
                    kind=QueueKind.CONTEST.value,
                    status=ReviewStatus.OPEN.value,
                    requested_at=now,
                    requested_by=requested_by,
                    due_at=due,
                    representations_enc=self.cipher.encrypt(representations),
                    previous_decision=c.decision,
                )
            )
            # Only the presence of representations: their text is personal data.
            Store._audit(
                s,
                requested_by,
                "review_requested",
                check_id,
                decision=c.decision,
                representations="provided",
                due_at=due.isoformat(),
            )
        return due

    def decide(
        self,
        check_id: str,
        decision: Decision,
        reviewer: str,
        note: str,
        *,
        expected_version: int | None = None,
        now: datetime | None = None,
    ) -> Outcome:
        """A named reviewer replaces the automated decision; the first stays in the timeline.

        ``expected_version`` is the check's ``version`` the reviewer saw (the API passes it);
        without it, the version read here. Either way a concurrent change wins only once.
        """
        now = now or utcnow()
        with self.store.session() as s:
            c = self._decided_check(s, check_id)
            seen = c.version if expected_version is None else expected_version
            if seen != c.version:  # the reviewer decided on a state that has since changed
                raise ReviewConflict(
                    f"check {check_id} was changed by someone else since you opened it; "
                    "reload it and try again"
                )
            review = self._open_review(s, check_id)
            if review is None and not c.automated:
                raise ReviewRefused(
                    "already_reviewed",
                    f"check {check_id} was already decided by a person; "
                    "a new review needs a new request",
                )
            own = s.scalars(
                select(FraudCaseRecord.proposed_by).where(
                    FraudCaseRecord.check_id == check_id,
                    FraudCaseRecord.status != CaseStatus.WITHDRAWN.value,
                )
            ).all()
            if any(same_person(p, reviewer) for p in own):
                raise ReviewRefused(
                    "own_proposal",
                    f"{reviewer} proposed a fraud case on check {check_id} and cannot review it",
                )
            previous = c.decision
            self._bump(s, check_id, seen, now, decision=decision.value, automated=False)
            if review is None:  # a referral, or a decision reviewed without a contest
                review = Review(
                    check_id=check_id,
                    kind=review_target_kind(previous).value,
                    requested_at=c.finished_at or now,
                    requested_by=reviewer,  # opened by the decision itself
                    due_at=due_at(c.finished_at or now, self.sla),
                    previous_decision=previous,
                )
                s.add(review)
            review.status = ReviewStatus.DECIDED.value
            review.decision = decision.value
            review.reviewer = reviewer
            review.note_enc = self.cipher.encrypt(note)
            review.decided_at = now
            self._lead_reason(s, check_id, human_reason(decision))
            Store._audit(
                s,
                reviewer,
                "review_decided",
                check_id,
                decision=decision.value,
                previous_decision=previous,
                kind=review.kind,
                note="provided",
            )
            return Outcome(check_id, decision.value, notify=bool(c.notify))

    @staticmethod
    def _lead_reason(s: Session, check_id: str, reason: Any) -> None:
        """Put a person's reason first; the automated reasons stay below it."""
        first = s.scalar(select(func.min(Reason.position)).where(Reason.check_id == check_id))
        s.execute(
            insert(Reason).values(
                check_id=check_id,
                position=(first if first is not None else 0) - 1,
                code=reason.code,
                text=reason.text,
                agency=reason.agency,
            )
        )

    # -- the queue --------------------------------------------------------------------------

    def queue(self, status: str = "open", limit: int = 500) -> list[QueueItem]:
        """Referrals, contests and fraud proposals; ``status``: open, closed or all."""
        sla = self.sla
        items: list[QueueItem] = []
        want_open = status in ("open", "all")
        want_closed = status in ("closed", "all")
        with self.store.session() as s:
            states = [ReviewStatus.OPEN.value] if want_open else []
            states += [ReviewStatus.DECIDED.value] if want_closed else []
            for r in s.scalars(
                select(Review).where(Review.status.in_(states)).order_by(Review.due_at).limit(limit)
            ):
                items.append(
                    QueueItem(
                        r.check_id,
                        QueueKind(r.kind),
                        r.status,
                        r.requested_at,
                        r.due_at,
                        decision=r.decision,
                    )
                )
            if want_open:
                # An automated referral waits for a person from the moment it was decided;
                # it becomes a review row only when someone decides it.
                referrals = s.execute(
                    select(Check.id, Check.finished_at, Check.updated_at)
                    .where(
                        Check.status == CheckStatus.DECIDED,
                        Check.decision == Decision.REFER.value,
                        Check.automated.is_(True),
                        ~exists().where(
                            Review.check_id == Check.id,
                            Review.status == ReviewStatus.OPEN.value,
                        ),
                    )
                    .order_by(Check.finished_at)
                    .limit(limit)
                ).all()
                for cid, finished_at, updated_at in referrals:
                    since = finished_at or updated_at
                    items.append(
                        QueueItem(
                            cid,
                            QueueKind.REFERRAL,
                            ReviewStatus.OPEN.value,
                            since,
                            due_at(since, sla),
                            decision=Decision.REFER.value,
                        )
                    )
            case_states = [CaseStatus.PROPOSED.value] if want_open else []
            case_states += (
                [CaseStatus.CONFIRMED.value, CaseStatus.WITHDRAWN.value] if want_closed else []
            )
            for f in s.scalars(
                select(FraudCaseRecord)
                .where(FraudCaseRecord.status.in_(case_states))
                .order_by(FraudCaseRecord.due_at)
                .limit(limit)
            ):
                items.append(
                    QueueItem(
                        f.check_id,
                        QueueKind.FRAUD_PROPOSAL,
                        f.status,
                        f.proposed_at,
                        f.due_at,
                        case_id=f.id,
                    )
                )
        return queue_order(items)[:limit]

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
            return _case_state(record)

    @staticmethod
    def _case(s: Session, case_id: str) -> FraudCaseRecord:
        record = s.get(FraudCaseRecord, case_id)
        if record is None:
            raise ReviewRefused("not_found", f"no fraud case {case_id}")
        return record

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
            res = s.execute(
                update(FraudCaseRecord)
                .where(
                    FraudCaseRecord.id == case_id,
                    FraudCaseRecord.status == CaseStatus.PROPOSED.value,
                )
                .values(
                    status=CaseStatus.CONFIRMED.value,
                    confirmed_by=confirmed_by,
                    confirmed_at=now,
                    filing_status=FilingStatus.PENDING.value,
                    filing_progress_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            if res.rowcount != 1:  # type: ignore[attr-defined]
                raise ReviewConflict(f"fraud case {case_id} was changed by someone else")
            c = s.get(Check, record.check_id)
            assert c is not None  # a foreign key
            years = self.store.settings.flagged_retention_years
            changes: dict[str, Any] = {
                "retention_until": retention_after_confirmation(
                    c.retention_until, _add_years(now, years)
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
            res = s.execute(
                update(FraudCaseRecord)
                .where(
                    FraudCaseRecord.id == case_id,
                    FraudCaseRecord.status == CaseStatus.PROPOSED.value,
                )
                .values(
                    status=CaseStatus.WITHDRAWN.value, withdrawn_by=withdrawn_by, withdrawn_at=now
                )
                .execution_options(synchronize_session=False)
            )
            if res.rowcount != 1:  # type: ignore[attr-defined]
                raise ReviewRefused(
                    "not_proposed",
                    f"fraud case {case_id} is {record.status}: only a proposal can be withdrawn",
                )
            Store._audit(s, withdrawn_by, "fraud_withdrawn", record.check_id, case_id=case_id)
        return self.case(case_id)

    def case(self, case_id: str) -> CaseState:
        """One fraud case."""
        with self.store.session() as s:
            return _case_state(self._case(s, case_id))

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

    def _end_filing(self, job: FilingJob, actor_action: str, **values: Any) -> None:
        now = utcnow()
        with self.store.session() as s:
            res = s.execute(
                update(FraudCaseRecord)
                .where(FraudCaseRecord.id == job.case_id, FraudCaseRecord.filing_owner == job.owner)
                .values(
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
            Store._audit(s, "worker", actor_action, job.check_id, case_id=job.case_id, **detail)

    def filed(self, job: FilingJob, reference: str) -> None:
        """Cifas took the case: store its reference."""
        self._end_filing(
            job,
            "fraud_filed",
            filing_status=FilingStatus.FILED.value,
            cifas_reference=reference,
            filed_at=utcnow(),
            filing_error=None,
        )

    def rejected(self, job: FilingJob, reason: str) -> None:
        """Cifas refused the case: kept with the reason, not retried."""
        self._end_filing(
            job,
            "fraud_filing_rejected",
            filing_status=FilingStatus.REJECTED.value,
            filing_error=reason,
        )

    def retrying(self, job: FilingJob, reason: str) -> None:
        """Cifas could not be reached: the lease is released and the filing tried again."""
        self._end_filing(
            job,
            "fraud_filing_retry",
            filing_status=FilingStatus.RETRYING.value,
            filing_error=reason,
        )

    def stale_filings(self, stale_after: timedelta, limit: int = 100) -> list[str]:
        """Confirmed cases still unfiled with no progress for ``stale_after``; stamped so
        that concurrent reconcilers re-send each only once."""
        now = utcnow()
        cutoff = now - stale_after
        stale: list[str] = []
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
            for case_id in ids:
                res = s.execute(
                    update(FraudCaseRecord)
                    .where(
                        FraudCaseRecord.id == case_id,
                        FraudCaseRecord.filing_progress_at <= cutoff,
                    )
                    .values(filing_progress_at=now)
                    .execution_options(synchronize_session=False)
                )
                if res.rowcount == 1:  # type: ignore[attr-defined]
                    stale.append(case_id)
        return stale
