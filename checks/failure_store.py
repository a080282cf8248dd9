"""The store's failures: a failed try, a fallback to the next agency, a check ended as failed.

A try that certainly sent nothing takes back its possibly-sent mark and its unknown ledger row in
the transaction that records it, so the ledger shows only searches that may have happened; a
step that an earlier run may have sent is never replaced (:class:`StepWasSent`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from agencies.contract import AgencyKind, Role, SearchType
from checks import statements as q
from checks.models import Check, Step, utcnow
from checks.states import TERMINAL, CheckStatus, StepStatus
from checks.submit_store import SubmitStore

if TYPE_CHECKING:
    from checks.store import StepState


class StepWasSent(RuntimeError):
    """A step that may have reached its agency cannot be replaced by another agency."""


class FailureStore(SubmitStore):
    """Failed tries, fallbacks and failed checks (over the run's helpers in :mod:`checks.store`)."""

    if TYPE_CHECKING:
        # The run's own helpers, defined with the hot path by checks.store.Store.
        @staticmethod
        def _touch(s: Session | Connection, check_id: str, now: datetime) -> Any: ...

        @staticmethod
        def _state(st: Any) -> StepState: ...

        @staticmethod
        def _footprint_row(
            check_id: str, check: Any, step: StepState, purpose_code: str, now: datetime
        ) -> dict[str, Any]: ...

    def fail_step(
        self,
        step_id: int,
        *,
        permanent: bool,
        code: str,
        message: str,
        unsent_in_run: int | None = None,
        attempts: int = 0,
    ) -> None:
        """Record a failed try: ``retrying`` (transient) or ``failed`` (needs an operator).

        ``unsent_in_run``: the request was certainly not sent, and this run is the one that
        marked the step as possibly sent (at ``attempts``, as claimed); the mark and the unknown
        ledger row are taken back, in the same transaction. A mark from an earlier run stays
        (that run may have sent it), and so does one a later claim has taken over.
        """
        now = utcnow()
        with self.session() as s:
            step = s.get_one(Step, step_id)
            if step.status == StepStatus.COMPLETED:
                return
            if unsent_in_run is not None:
                self._unmark_sent(s, step_id, unsent_in_run, attempts)
                s.refresh(step)
            step.status = StepStatus.FAILED if permanent else StepStatus.RETRYING
            step.error_code = code
            step.error = message
            step.finished_at = now
            self._touch(s, step.check_id, now)
            self._audit(
                s,
                "worker",
                "step_failed" if permanent else "step_retrying",
                step.check_id,
                agency=step.agency,
                code=code,
            )

    @staticmethod
    def _unmark_sent(s: Session | Connection, step_id: int, run: int, attempts: int) -> bool:
        """Take back this run's possibly-sent mark and unknown row; False if not this run's."""
        params = dict(p_step=step_id, p_run=run, p_attempts=attempts)
        if s.execute(q.UNMARK_SENT, params).first() is None:
            return False
        s.execute(q.DROP_UNKNOWN_FOOTPRINT, dict(p_step=step_id))
        return True

    def supersede(
        self,
        step_id: int,
        next_agency: str,
        reason: str,
        *,
        run: int,
        attempts: int,
        purpose_code: str = "",
    ) -> StepState:
        """Give up on a step's agency (certainly not searched) and add one for the next CRA.

        Only a step this run marked as possibly sent can be superseded (an earlier run may have
        sent it: :class:`StepWasSent`). The new step is marked as possibly sent by ``run``, with
        its unknown ledger row, before its request leaves; all in one transaction.
        """
        now = utcnow()
        with self.session() as s:
            if not self._unmark_sent(s, step_id, run, attempts):
                raise StepWasSent(f"step {step_id} may have been sent by an earlier run")
            old = s.get_one(Step, step_id)
            old.status = StepStatus.SUPERSEDED
            old.error = reason
            old.finished_at = now
            new = self._new_step(
                old.check_id,
                old.slot,
                AgencyKind(old.kind),
                next_agency,
                Role(old.role),
                SearchType(old.search_type),
            )
            new.status, new.attempts, new.started_at = StepStatus.RUNNING, 1, now
            new.sent_in_run = run
            s.add(new)
            s.flush()
            check = self._touch(s, old.check_id, now)
            state = self._state(new)
            s.execute(
                q.FOOTPRINT, self._footprint_row(old.check_id, check, state, purpose_code, now)
            )
            self._audit(
                s,
                "worker",
                "fallback",
                old.check_id,
                slot=old.slot,
                from_agency=old.agency,
                to_agency=next_agency,
            )
            return state

    def mark_failed(self, check_id: str, reason: str, actor: str) -> bool:
        """End a check as failed with a specific reason; never a decline."""
        now = utcnow()
        with self.session() as s:
            check = s.get(Check, check_id, with_for_update=True)
            if check is None or check.status in TERMINAL:
                return False
            check.status = CheckStatus.FAILED
            check.failure_reason = reason
            check.finished_at = now
            check.updated_at = check.progress_at = now
            check.lease_owner = None
            check.lease_until = None
            check.retention_until = now + timedelta(days=self.settings.retention_days)
            self._audit(s, actor, "failed", check_id, reason=reason)
        return True
