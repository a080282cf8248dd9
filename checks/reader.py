"""Reading checks: a check's view, its status, listings, and waiting for its outcome.

All a command that only reads needs: no broker, no agencies, and none of the submission path
(:mod:`checks.api` builds the service on it), so ``checkctl show`` starts without them.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from checks.errors import CheckError
from checks.states import TERMINAL
from checks.store import Store


class WaitTimeout(CheckError, TimeoutError):
    """The check did not end within the time given; it carries on in the background."""


class CheckReader:
    """Read checks and wait for their outcomes: all a command that only reads needs.

    It needs no broker and no agencies, so ``checkctl show`` starts without importing them.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, check_id: str) -> dict[str, Any]:
        """Status, steps, footprints, decision and reasons, timeline."""
        return self.store.view(check_id)

    def wait(self, check_id: str, timeout: float = 60.0, poll: float = 0.05) -> dict[str, Any]:
        """Block until the check is decided or failed; raise :class:`WaitTimeout` if not."""
        deadline = time.monotonic() + timeout
        while True:
            if self.store.status(check_id) in TERMINAL:
                return self.get(check_id)
            if time.monotonic() >= deadline:
                raise WaitTimeout(f"check {check_id} has not ended after {timeout:g}s")
            time.sleep(min(poll, max(0.0, deadline - time.monotonic())))
            poll = min(poll * 1.5, 0.5)

    def status(self, check_id: str) -> str:
        """The check's status alone (cheap: for polling)."""
        return self.store.status(check_id)

    def list_checks(
        self,
        *,
        status: str | None = None,
        agency: str | None = None,
        since: datetime | None = None,
        limit: int = 200,
        offset: int = 0,
        requested_by: str | None = None,
    ) -> list[dict[str, Any]]:
        """Checks matching the filters, newest first, as summaries without personal data."""
        rows = self.store.find(
            status=status,
            agency=agency,
            since=since,
            limit=limit,
            offset=offset,
            requested_by=requested_by,
        )
        return [
            {
                "id": c.id,
                "idempotency_key": c.idempotency_key,
                "status": c.status,
                "decision": c.decision,
                "purpose": c.purpose,
                "flagged": c.flagged,
                "requested_by": c.requested_by,
                "created_at": c.created_at.isoformat(),
                "failure_reason": c.failure_reason,
            }
            for c in rows
        ]

    def rerunnable(self, agency: str | None = None, since: datetime | None = None) -> list[str]:
        """Failed checks (involving ``agency``, newer than ``since``): a bulk rerun's preview."""
        return self.store.failed_for_agency(agency, since)
