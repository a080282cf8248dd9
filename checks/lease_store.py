"""The store's leases and operator actions: renewing and releasing a lease, a rerun, an audit entry.

A worker holds a check by its lease (``lease_owner`` until ``lease_until``); these statements
touch a lease only while its owner still holds it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import update

from checks.database import Database
from checks.errors import CheckNotFound, NotRerunnable
from checks.models import Check, utcnow
from checks.states import RERUNNABLE_STEPS, CheckStatus, StepStatus


class LeaseStore(Database):
    """Leases, reruns and audit entries."""

    def renew(self, check_id: str, owner: str, lease_seconds: float) -> bool:
        """Extend a lease this owner holds; False if it was lost."""
        now = utcnow()
        with self.session() as s:
            res = s.execute(
                update(Check)
                .where(Check.id == check_id, Check.lease_owner == owner)
                .values(lease_until=now + timedelta(seconds=lease_seconds))
            )
            return bool(res.rowcount)  # type: ignore[attr-defined]

    def release(self, check_id: str, owner: str) -> None:
        """Give up the lease so a retry (from any worker) can claim the check at once."""
        with self.session() as s:
            s.execute(
                update(Check)
                .where(Check.id == check_id, Check.lease_owner == owner)
                .values(lease_owner=None, lease_until=None, updated_at=utcnow())
            )

    def prepare_rerun(self, check_id: str, actor: str) -> list[str]:
        """Reopen a failed check: failed and retrying steps go back to pending.

        Completed steps are kept, so nothing already searched is searched again. Returns the
        agencies that will be searched.
        """
        now = utcnow()
        with self.session() as s:
            check = s.get(Check, check_id, with_for_update=True)
            if check is None:
                raise CheckNotFound(check_id)
            if check.purged_at is not None:
                raise NotRerunnable(f"check {check_id} was purged; its request is gone")
            if check.status != CheckStatus.FAILED:
                raise NotRerunnable(
                    f"check {check_id} is {check.status}; only failed checks can be rerun"
                )
            again: list[str] = []
            for step in check.steps:
                if step.status in RERUNNABLE_STEPS:
                    step.status = StepStatus.PENDING
                    again.append(step.agency)
            check.status = CheckStatus.QUEUED
            check.failure_reason = None
            check.finished_at = None
            check.updated_at = check.progress_at = now
            check.lease_owner = check.lease_until = None
            self._audit(s, actor, "rerun", check_id, agencies=again)
        return again

    def audit_action(
        self, check_id: str | None, action: str, actor: str = "worker", **detail: Any
    ) -> None:
        """Record an action in the audit trail (no personal data in ``detail``)."""
        with self.session() as s:
            self._audit(s, actor, action, check_id, **detail)
