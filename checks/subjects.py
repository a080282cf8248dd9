"""Retention and data-subject rights as a service: what the CLI and the HTTP API both call.

``RetentionService`` runs the sweep (now, or once a day from the workers), places and lifts
legal holds, and seals and verifies the audit chain. ``SubjectService`` answers a person: find
their subject ids, export everything held about them, erase what the law lets go.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from checks import schedule
from checks.audit_chain import AuditChain, VerifyReport
from checks.errors import ErasureRefused, InvalidRequest, Problem
from checks.inputs import person_from_request
from checks.models import utcnow
from checks.request import Person as RequestPerson
from checks.request import _problem
from checks.retention import REASON_TEXT, KeepReason, Retention, add_one_month
from checks.retention_store import ErasureOutcome, RetentionStore, SubjectNotFound, SweepReport
from checks.store import Store

__all__ = [
    "RetentionService",
    "SubjectService",
    "SubjectNotFound",
    "SubjectErasureRefused",
    "SweepReport",
    "ErasureOutcome",
    "VerifyReport",
]

#: The daily sweep's name in the schedule table.
DAILY_SWEEP = "retention_sweep"
#: A daily run that started this long ago and never finished (its process died) runs again.
STALE_RUN = timedelta(hours=1)


class SubjectErasureRefused(ErasureRefused):
    """Some or all of a subject's records must be kept; carries what was and was not erased."""

    def __init__(self, message: str, outcome: ErasureOutcome) -> None:
        super().__init__(message)
        self.outcome = outcome


def describe_retention(retention: Retention) -> str:
    """A refusal's reason in plain English, naming the date retention ends when there is one."""
    text = REASON_TEXT[retention.reason]
    if retention.keep_through is not None:
        return f"{text}; retention ends on {retention.keep_through.isoformat()}"
    if retention.reason is KeepReason.LEGAL_HOLD:
        return f"{text}; retention ends when the hold is released"
    return f"{text}; retention ends once it has finished"


def _without_value(detail: Any) -> Problem:
    """A validation problem that names the field but never repeats what was given (personal)."""
    problem = _problem(detail)
    given = detail.get("input")
    message = problem.message
    if isinstance(given, str) and given:
        message = message.replace(repr(given), "the value given").replace(given, "…")
    return Problem(problem.field, message)


class RetentionService:
    """The retention sweep, legal holds and the audit chain."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.records = RetentionStore(store)
        self.audit = AuditChain(store.engine)

    def sweep(
        self, as_of: date | None = None, *, dry_run: bool = False, actor: str = "operator"
    ) -> SweepReport:
        """Purge what has expired as of ``as_of`` (default: today, UTC)."""
        return self.records.sweep(as_of or utcnow().date(), dry_run=dry_run, actor=actor)

    def run_daily(self, now: datetime | None = None) -> SweepReport | None:
        """The daily job: sweep once per day across every worker; None if already done today."""
        now = now or utcnow()
        period = now.date().isoformat()
        if not schedule.claim(self.store.engine, DAILY_SWEEP, period, now, STALE_RUN):
            return None
        report = self.records.sweep(now.date(), actor="retention-daily")
        schedule.finish(self.store.engine, DAILY_SWEEP, period, utcnow())
        return report

    def hold(self, subject_id: str, reason: str, actor: str = "operator") -> bool:
        """Place a legal hold on a subject: nothing of theirs is purged or erased until lifted."""
        return self.records.set_hold(subject_id, reason, actor)

    def release(self, subject_id: str, actor: str = "operator") -> bool:
        """Lift a subject's legal hold."""
        return self.records.set_hold(subject_id, None, actor)

    def seal_audit(self) -> int:
        """Give committed audit events their place in the hash chain."""
        return self.audit.seal()

    def verify_audit(self) -> VerifyReport:
        """Seal, then walk the audit chain; the report names the first broken event."""
        return self.audit.verify()


class SubjectService:
    """Subject access and erasure."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.records = RetentionStore(store)

    def find(self, data: object, *, today: date | None = None) -> list[str]:
        """The subject ids for a person (the ``applicant`` fields of a check request).

        Raises :class:`InvalidRequest` naming every bad field (never echoing the values).
        """
        if not isinstance(data, dict):
            raise InvalidRequest([Problem("$", "must be a JSON object with the person fields")])
        try:
            person = RequestPerson.model_validate(data, context={"today": today or utcnow().date()})
        except ValidationError as error:
            raise InvalidRequest([_without_value(d) for d in error.errors()]) from None
        return self.records.find(person_from_request(person))

    def export(self, subject_id: str, actor: str = "operator") -> dict[str, Any]:
        """Everything held about the subject, decrypted; the request's due date is recorded."""
        now = utcnow()
        due = add_one_month(now)
        data = self.records.export_data(subject_id)
        own, per_check = self.records.retention_of(subject_id)
        retention: list[dict[str, Any]] = [
            {
                "record": "subject",
                "id": subject_id,
                "reason": own.reason.value,
                "reason_text": REASON_TEXT[own.reason],
                "retention_ends": own.keep_through.isoformat() if own.keep_through else None,
            }
        ]
        for check in data["checks"]:
            if check["purged"]:
                retention.append({"record": "check", "id": check["id"], "purged": True})
                continue
            purge_from = per_check.get(check["id"])
            retention.append(
                {
                    "record": "check",
                    "id": check["id"],
                    "purged": False,
                    "retention_ends": (purge_from - timedelta(days=1)).isoformat()
                    if purge_from is not None
                    else None,
                }
            )
        data.update(
            generated_at=now.isoformat(),
            retention=retention,
            request={"received_at": now.isoformat(), "due_at": due.isoformat()},
        )
        # The statutory deadline (one calendar month) is recorded with the request itself.
        self.store.audit_action(
            None,
            "subject_access_request",
            actor,
            subject_id=subject_id,
            due_at=due.isoformat(),
            checks=len(data["checks"]),
        )
        return data

    def erase(self, subject_id: str, actor: str = "operator") -> ErasureOutcome:
        """Erase what is not under retention; raise :class:`SubjectErasureRefused` for the rest.

        Whatever could be erased is erased even when some records must stay (they are named,
        with the reason and the date their retention ends).
        """
        outcome = self.records.erase(subject_id, actor)
        if outcome.retained:
            # The record kept longest names the reason and the date.
            keeper = max(
                outcome.retained.values(),
                key=lambda r: (r.purge_from is None, r.purge_from or date.min),
            )
            n = len(outcome.retained)
            raise SubjectErasureRefused(
                f"erasure of subject {subject_id} refused for {n} record(s): "
                + describe_retention(keeper),
                outcome,
            )
        return outcome
