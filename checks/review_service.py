"""Human review and fraud filing as services: what the CLI and the HTTP API both call.

Input is validated here (an :class:`~checks.errors.InvalidRequest` names every bad field and
never repeats personal data); refusals are :class:`~checks.review.ReviewRefused` with a stable
code. Messages are sent only after the transaction that needs them has committed: a send lost
in a crash is only a delay, since the reconciler re-sends a confirmed case still unfiled.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

import structlog

from agencies.config import Agencies
from agencies.errors import AgencyError
from checks.errors import InvalidRequest, Problem, StepsPending
from checks.filing_store import FilingBusy, FilingStore
from checks.fraud_store import CaseState
from checks.models import utcnow
from checks.outbox import resend_claimed
from checks.review import (
    MAX_NAME,
    QueueItem,
    parse_case_type,
    parse_decision,
    text_problems,
)
from checks.review_store import Outcome, ReviewStore
from checks.store import Store

log = structlog.get_logger(__name__)
T = TypeVar("T")

#: ``review list --status`` values.
QUEUE_STATUSES = ("open", "closed", "all")


class ReviewDispatcher(Protocol):
    """Queues the jobs a person's action starts (the ``workers`` package sends them)."""

    def send_notify(self, check_id: str) -> None:
        """Tell the requester the check's (new) outcome."""

    def send_file_case(self, case_id: str) -> None:
        """File a confirmed fraud case to Cifas."""


class FilingPending(StepsPending):
    """Cifas could not take the filing now (or another worker is filing the case): the job
    must be tried again later."""


@dataclass(frozen=True)
class FilingResult:
    """How one filing attempt ended: ``filed``, ``rejected`` or ``skipped`` (nothing to do)."""

    case_id: str
    status: str
    detail: str = ""


def _check(problems: list[Problem]) -> None:
    if problems:
        raise InvalidRequest(problems)


def _name_problems(option: str, value: str | None) -> list[Problem]:
    return text_problems(option, value, MAX_NAME)


def _parsed(
    parse: Callable[[str], T], option: str, value: str, problems: list[Problem]
) -> T | None:
    """``parse(value)``, or None with the reason it was refused added to ``problems``."""
    try:
        return parse(value)
    except ValueError as exc:
        problems.append(Problem(option, str(exc)))
        return None


class ReviewService:
    """The review queue, contests and reviewers' decisions."""

    def __init__(self, store: Store, dispatcher: ReviewDispatcher) -> None:
        self.reviews = ReviewStore(store)
        self.dispatcher = dispatcher

    def queue(self, status: str = "open", now: datetime | None = None) -> list[dict[str, Any]]:
        """``review list``: items waiting for (or done by) a person, most urgent first."""
        if status not in QUEUE_STATUSES:
            _check([Problem("--status", "must be open, closed or all")])
        now = now or utcnow()
        return [item.as_dict(now) for item in self.items(status)]

    def items(self, status: str = "open") -> list[QueueItem]:
        """The queue as values."""
        return self.reviews.queue(status)

    def request(
        self, check_id: str, representations: str, requested_by: str = "applicant"
    ) -> dict[str, Any]:
        """The applicant contests the automated decision with their representations."""
        _check(
            text_problems("--representations", representations)
            + _name_problems("--by", requested_by)
        )
        due = self.reviews.request(check_id, representations, requested_by.strip())
        log.info("review.requested", check_id=check_id)
        return {"check_id": check_id, "status": "open", "due_at": due.isoformat()}

    def decide(
        self,
        check_id: str,
        decision: str,
        reviewer: str,
        note: str,
        expected_version: int | None = None,
    ) -> dict[str, Any]:
        """A named reviewer records a new decision; the requester is told the new outcome."""
        problems: list[Problem] = []
        chosen = _parsed(parse_decision, "--decision", decision, problems)
        problems += _name_problems("--reviewer", reviewer) + text_problems("--note", note)
        _check(problems)
        assert chosen is not None
        outcome = self.reviews.decide(
            check_id, chosen, reviewer.strip(), note, expected_version=expected_version
        )
        log.info("review.decided", check_id=check_id, decision=outcome.decision)
        self._notify(outcome)
        return {"check_id": check_id, "decision": outcome.decision, "automated": False}

    def _notify(self, outcome: Outcome) -> None:
        if outcome.notify:
            self.dispatcher.send_notify(outcome.check_id)


class FraudService:
    """Fraud proposals, two-person confirmation, withdrawal, and filing to Cifas."""

    def __init__(
        self, store: Store, dispatcher: ReviewDispatcher, *, lease_seconds: float = 60.0
    ) -> None:
        self.cases = FilingStore(store)
        self.dispatcher = dispatcher
        self.lease_seconds = lease_seconds

    def propose(self, check_id: str, case_type: str, evidence: str, by: str) -> CaseState:
        """Propose a Cifas case on a check; it waits for a second person."""
        problems: list[Problem] = []
        chosen = _parsed(parse_case_type, "--case-type", case_type, problems)
        problems += text_problems("--evidence", evidence) + _name_problems("--by", by)
        _check(problems)
        assert chosen is not None
        state = self.cases.propose(check_id, chosen, evidence, by.strip())
        log.info("fraud.proposed", check_id=check_id, case_id=state.case_id)
        return state

    def confirm(self, case_id: str, by: str) -> CaseState:
        """A different person confirms: the check is declined, the subject flagged, the case
        queued for filing (and the requester told of a changed outcome)."""
        _check(_name_problems("--by", by))
        outcome = self.cases.confirm(case_id, by.strip())
        log.info("fraud.confirmed", check_id=outcome.check_id, case_id=case_id)
        self.dispatcher.send_file_case(case_id)
        if outcome.notify:
            self.dispatcher.send_notify(outcome.check_id)
        return self.cases.case(case_id)

    def withdraw(self, case_id: str, by: str) -> CaseState:
        """Withdraw a proposal before confirmation."""
        _check(_name_problems("--by", by))
        state = self.cases.withdraw(case_id, by.strip())
        log.info("fraud.withdrawn", check_id=state.check_id, case_id=case_id)
        return state

    def case(self, case_id: str) -> CaseState:
        """One case, with its filing state."""
        return self.cases.case(case_id)

    def resend_stale_filings(self, stale_after: timedelta) -> list[str]:
        """Re-send the filing of confirmed cases that made no progress (a lost message or a
        worker that died holding the lease); safe from any number of reconcilers at once."""
        stale = self.cases.stale_filings(stale_after)
        resend_claimed(stale, self.dispatcher.send_file_case, "fraud.filings_resent", "cases")
        return stale

    async def file(self, case_id: str, agencies: Agencies) -> FilingResult:
        """File one confirmed case through the Cifas adapter, exactly once.

        Raises :class:`FilingPending` when Cifas is unavailable, so the job is retried.
        """
        owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        try:
            job = await _blocking(self.cases.claim_filing, case_id, owner, self.lease_seconds)
        except FilingBusy as exc:
            raise FilingPending(str(exc)) from exc
        if job is None:
            return FilingResult(case_id, "skipped")
        adapter = agencies.adapters.get("cifas")
        if adapter is None:
            await _blocking(self.cases.retrying, job, "cifas: no adapter is configured")
            raise FilingPending(f"case {case_id}: no Cifas adapter configured")
        try:
            reference = await adapter.file_case(job.case)
        except AgencyError as exc:
            if exc.retryable:
                await _blocking(self.cases.retrying, job, str(exc))
                log.warning("fraud.filing_retry", case_id=case_id, code=exc.code)
                raise FilingPending(f"case {case_id}: {exc}") from exc
            await _blocking(self.cases.rejected, job, str(exc))
            log.warning("fraud.filing_rejected", case_id=case_id, code=exc.code)
            return FilingResult(case_id, "rejected", str(exc))
        except Exception as exc:  # an adapter bug must not leave the lease held until expiry
            why = f"cifas: internal error ({type(exc).__name__})"
            await _blocking(self.cases.retrying, job, why)
            raise
        await _blocking(self.cases.filed, job, reference)
        log.info("fraud.filed", case_id=case_id)
        return FilingResult(case_id, "filed", reference)


async def _blocking(fn: Callable[..., T], /, *args: Any) -> T:
    # Store calls block; keep them off the event loop that other checks' agency calls share.
    return await asyncio.to_thread(fn, *args)
