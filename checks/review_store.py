"""The store part of human review: contests, reviewers' decisions and the review queue.

Each public method is one transaction. Every change of a check's outcome by a person bumps the
check's ``version`` with ``UPDATE ... WHERE version = :seen``: of two reviewers deciding at
once, the second matches no row and gets :class:`~checks.review.ReviewConflict`, never a silent
overwrite. Representations, notes and evidence are personal data: encrypted, and never in the
audit trail (which records only that they were given). Fraud cases build on this part
(:mod:`checks.fraud_store`, :mod:`checks.filing_store`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, insert, select, update
from sqlalchemy.orm import Session

from checks.errors import CheckNotFound
from checks.models import Check, FraudCaseRecord, Reason, Review, utcnow
from checks.policy import Decision
from checks.review import (
    CaseStatus,
    QueueItem,
    QueueKind,
    ReviewConflict,
    ReviewRefused,
    ReviewStatus,
    due_at,
    human_reason,
    queue_order,
    review_target_kind,
    same_person,
)
from checks.states import CheckStatus
from checks.store import Store


@dataclass(frozen=True)
class Outcome:
    """What a person's action changed: whether the requester must be told of a new outcome."""

    check_id: str
    decision: str
    notify: bool


class ReviewStore:
    """Transactions for reviews and the queue, on the checks store's database and keys.

    Its helpers (a decided check, the optimistic version bump, a person's reason first) serve
    the fraud cases too (:class:`checks.fraud_store.FraudCaseStore`).
    """

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
