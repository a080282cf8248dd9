"""Reading checks: a check's view, its status, listings, and waiting for its outcome.

All a command that only reads needs: no broker, no agencies, and none of the submission path
(:mod:`checks.api` builds the service on it), so ``checkctl show`` starts without them.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Any, Unpack

from checks.errors import CheckError
from checks.states import TERMINAL
from checks.store import Store

if TYPE_CHECKING:
    from checks.models import Check
    from checks.read_store import CheckFilters

# A listing's summary of a check: no personal data.
_SUMMARY = (
    "id",
    "idempotency_key",
    "status",
    "decision",
    "purpose",
    "flagged",
    "requested_by",
    "created_at",
    "failure_reason",
)


def _summary(c: Check) -> dict[str, Any]:
    found = {name: getattr(c, name) for name in _SUMMARY}
    found["created_at"] = c.created_at.isoformat()  # keeps its place in the order
    return found


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

    def list_checks(self, **filters: Unpack[CheckFilters]) -> list[dict[str, Any]]:
        """Checks matching the filters, newest first, as summaries without personal data."""
        filters.setdefault("limit", 200)
        return [_summary(c) for c in self.store.find(**filters)]

    def rerunnable(self, agency: str | None = None, since: datetime | None = None) -> list[str]:
        """Failed checks (involving ``agency``, newer than ``since``): a bulk rerun's preview."""
        return self.store.failed_for_agency(agency, since)
