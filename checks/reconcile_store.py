"""The store's reconciliation queries: checks that stopped making progress or ran out of time.

Any number of reconcilers may run at once: a stale row (a check, a notice of disassociation, a
fraud case's filing) is stamped as touched by the statement that finds it still stale
(:func:`stamp_stale`), so only one of them sends it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from checks.database import Database
from checks.models import Check, utcnow
from checks.states import IN_PROGRESS

#: A row's id (a check's, a notice's, a fraud case's).
K = TypeVar("K")


def stamp_stale(
    s: Session,
    key: InstrumentedAttribute[K],
    clock: InstrumentedAttribute[datetime] | InstrumentedAttribute[datetime | None],
    ids: Sequence[K],
    cutoff: datetime,
    now: datetime,
    **also: Any,
) -> list[K]:
    """Stamp ``clock`` with ``now`` on each row of ``ids`` still stale (``clock <= cutoff``).

    Returns the rows this transaction stamped: of any number of reconcilers finding the same
    stale rows at once, each row is stamped, and so re-sent, by one of them only.
    """
    table = key.class_
    stamped: list[K] = []
    for row_id in ids:
        res = s.execute(
            update(table)
            .where(key == row_id, clock <= cutoff)
            .values({clock.key: now, **also})
            .execution_options(synchronize_session=False)
        )
        if res.rowcount == 1:  # type: ignore[attr-defined]
            stamped.append(row_id)
    return stamped


class ReconcileStore(Database):
    """Finding stale and overdue checks."""

    def claim_stale(self, stale_after: timedelta, limit: int = 500) -> list[str]:
        """Checks not terminal, unleased and with no progress for ``stale_after``.

        Each is stamped as touched so that concurrent reconcilers re-queue it only once.
        """
        now = utcnow()
        cutoff = now - stale_after
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
            claimed = stamp_stale(s, Check.id, Check.progress_at, ids, cutoff, now, updated_at=now)
            for cid in claimed:
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
