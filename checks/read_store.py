"""The store's read side: the check view, listings and operator queries.

Nothing here writes. Each method is one short transaction over the rows the write path
(:mod:`checks.store`) keeps, and none returns personal data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict, Unpack

from sqlalchemy import func, select

from checks.database import Database
from checks.errors import CheckNotFound
from checks.models import Check, Footprint, Step
from checks.states import RERUNNABLE_STEPS, CheckStatus


class CheckFilters(TypedDict, total=False):
    """A listing's filters; each one left out does not filter."""

    status: str | None
    agency: str | None  # any step at that agency
    since: datetime | None
    limit: int  # 1000 unless given
    offset: int
    requested_by: str | None


class ReadStore(Database):
    """Reads of checks: their view, status, notify target, listings and ledger counts."""

    def find(self, **filters: Unpack[CheckFilters]) -> list[Check]:
        """Checks matching the filters, newest first (``agency``: any step at that agency)."""
        status, agency, since = filters.get("status"), filters.get("agency"), filters.get("since")
        limit, offset = filters.get("limit", 1000), filters.get("offset", 0)
        requested_by = filters.get("requested_by")
        with self.session() as s:
            # The id breaks ties between checks created in the same instant, so pages are stable.
            q = (
                select(Check)
                .order_by(Check.created_at.desc(), Check.id)
                .limit(limit)
                .offset(offset)
            )
            if requested_by is not None:
                q = q.where(Check.requested_by == requested_by)
            if status:
                q = q.where(Check.status == status)
            if since:
                q = q.where(Check.created_at >= since)
            if agency:
                q = q.where(Check.id.in_(select(Step.check_id).where(Step.agency == agency)))
            return list(s.scalars(q))

    def failed_for_agency(self, agency: str | None, since: datetime | None) -> list[str]:
        """Failed checks whose failure involves ``agency`` (any, if None)."""
        with self.session() as s:
            q = (
                select(Check.id)
                .where(Check.status == CheckStatus.FAILED)
                .order_by(Check.created_at)
            )
            if since:
                q = q.where(Check.created_at >= since)
            if agency:
                q = q.where(
                    Check.id.in_(
                        select(Step.check_id).where(
                            Step.agency == agency,
                            Step.status.in_(RERUNNABLE_STEPS),
                        )
                    )
                )
            return list(s.scalars(q))

    def status(self, check_id: str) -> str:
        """The check's status."""
        with self.session() as s:
            value = s.scalar(select(Check.status).where(Check.id == check_id))
        if value is None:
            raise CheckNotFound(check_id)
        return value

    def view(self, check_id: str) -> dict[str, Any]:
        """Everything ``checkctl show`` prints, without personal data (the typed read model's
        JSON: see :mod:`checks.check_view`)."""
        from checks.check_view import read_check_view

        return read_check_view(self, check_id).as_dict()

    def notify_target(self, check_id: str) -> dict[str, Any] | None:
        """Where the requester asked for the outcome (``{"actor": ...}`` or ``{"url": ...}``)."""
        with self.session() as s:
            return s.scalar(select(Check.notify).where(Check.id == check_id))

    def footprint_count(self, check_id: str | None = None) -> int:
        """Rows in the footprint ledger (for one check, or all)."""
        with self.session() as s:
            q = select(func.count(Footprint.id))
            if check_id:
                q = q.where(Footprint.check_id == check_id)
            return int(s.scalar(q) or 0)
