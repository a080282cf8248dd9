"""The store's reconciliation queries: checks that stopped making progress or ran out of time.

Any number of reconcilers may run at once: a stale check is stamped as touched by the same
statement that finds it still stale, so only one of them re-queues it.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, select, update

from checks.database import Database
from checks.models import Check, utcnow
from checks.states import IN_PROGRESS


class ReconcileStore(Database):
    """Finding stale and overdue checks."""

    def claim_stale(self, stale_after: timedelta, limit: int = 500) -> list[str]:
        """Checks not terminal, unleased and with no progress for ``stale_after``.

        Each is stamped as touched so that concurrent reconcilers re-queue it only once.
        """
        now = utcnow()
        cutoff = now - stale_after
        claimed: list[str] = []
        with self.session() as s:
            ids = s.scalars(
                select(Check.id)
                .where(
                    Check.status.in_(IN_PROGRESS),
                    Check.progress_at <= cutoff,
                    or_(Check.lease_until.is_(None), Check.lease_until < now),
                )
                .limit(limit)
            ).all()
            for cid in ids:
                res = s.execute(
                    update(Check)
                    .where(Check.id == cid, Check.progress_at <= cutoff)
                    .values(progress_at=now, updated_at=now)
                )
                if res.rowcount == 1:  # type: ignore[attr-defined]
                    claimed.append(cid)
                    self._audit(s, "reconciler", "requeued", cid)
        return claimed

    def overdue(self, deadline: timedelta) -> list[str]:
        """Non-terminal checks submitted longer ago than the deadline."""
        cutoff = utcnow() - deadline
        with self.session() as s:
            return list(
                s.scalars(
                    select(Check.id).where(
                        Check.status.in_(IN_PROGRESS), Check.created_at <= cutoff
                    )
                )
            )
