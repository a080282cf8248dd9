"""Read-only figures over the store for the console's dashboard and the ``/metrics`` endpoint.

Everything here is derived from the database, the source of truth that every worker process
writes to, so the figures are the same whichever process serves them and need no shared state
between processes. Each method is one read transaction and returns counts only, never
personal data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Float, case, cast, func, select

from checks.models import Check, Footprint, Step
from checks.on_store import OnStore
from checks.states import CheckStatus, StepStatus


@dataclass(frozen=True)
class LatencyHistogram:
    """Cumulative counts of agency call durations (finished steps) for one agency and outcome."""

    agency: str
    outcome: str
    #: ``(upper bound in seconds, steps that took at most that long)``, bounds ascending.
    buckets: tuple[tuple[float, int], ...]
    count: int
    total_seconds: float


@dataclass(frozen=True)
class AgencyHealth:
    """One agency's recent record: searches completed and failed in the window."""

    agency: str
    completed: int
    failed: int
    last_error: str | None


class Reporting(OnStore):
    """Counts by status, purpose, decision and agency; step latency histograms."""

    def counts_by_status(self, since: datetime | None = None) -> dict[str, int]:
        """Checks per status (created since ``since``, if given); every status is present."""
        q = select(Check.status, func.count()).group_by(Check.status)
        if since is not None:
            q = q.where(Check.created_at >= since)
        counts = dict.fromkeys(map(str, CheckStatus), 0)
        with self.store.session() as s:
            for status, n in s.execute(q):
                counts[status] = int(n)
        return counts

    def checks_by_status_and_purpose(self) -> list[tuple[str, str, int]]:
        """``(status, purpose, checks)`` for every combination present."""
        q = select(Check.status, Check.purpose, func.count()).group_by(Check.status, Check.purpose)
        with self.store.session() as s:
            return [(st, p, int(n)) for st, p, n in s.execute(q)]

    def decisions(self) -> list[tuple[str, str, int]]:
        """``(decision, purpose, checks)`` over decided checks."""
        q = (
            select(Check.decision, Check.purpose, func.count())
            .where(Check.decision.is_not(None))
            .group_by(Check.decision, Check.purpose)
        )
        with self.store.session() as s:
            return [(str(d), p, int(n)) for d, p, n in s.execute(q)]

    def footprints(self) -> list[tuple[str, str, int]]:
        """``(agency, search_type, rows)`` in the footprint ledger."""
        q = select(Footprint.agency, Footprint.search_type, func.count()).group_by(
            Footprint.agency, Footprint.search_type
        )
        with self.store.session() as s:
            return [(a, t, int(n)) for a, t, n in s.execute(q)]

    def step_outcomes(self) -> list[tuple[str, str, int]]:
        """``(agency, step status, steps)``: completed, failed, superseded, pending..."""
        q = select(Step.agency, Step.status, func.count()).group_by(Step.agency, Step.status)
        with self.store.session() as s:
            return [(a, st, int(n)) for a, st, n in s.execute(q)]

    def retries(self) -> list[tuple[str, int]]:
        """``(agency, calls beyond the first)``: every attempt after a step's first."""
        q = (
            select(Step.agency, func.sum(Step.attempts - 1))
            .where(Step.attempts > 1)
            .group_by(Step.agency)
        )
        with self.store.session() as s:
            return [(a, int(n or 0)) for a, n in s.execute(q)]

    def agency_health(self, since: datetime) -> list[AgencyHealth]:
        """Per agency, steps that finished since ``since``: completed and failed."""
        done = func.sum(case((Step.status == StepStatus.COMPLETED, 1), else_=0))
        bad = func.sum(case((Step.status == StepStatus.FAILED, 1), else_=0))
        q = (
            select(Step.agency, done, bad, func.max(Step.error_code))
            .where(Step.finished_at >= since)
            .group_by(Step.agency)
            .order_by(Step.agency)
        )
        with self.store.session() as s:
            return [
                AgencyHealth(a, int(c or 0), int(f or 0), e if f else None)
                for a, c, f, e in s.execute(q)
            ]

    def step_latency(self, bounds: Sequence[float]) -> list[LatencyHistogram]:
        """Histograms of finished steps' durations (start to outcome, quick retries included).

        Counted by the database in one pass (a ``CASE`` per bucket), so a scrape costs one
        aggregate query however many steps there are.
        """
        seconds = self._duration_seconds()
        cols = [func.sum(case((seconds <= b, 1), else_=0)) for b in bounds]
        q = (
            select(Step.agency, Step.status, func.count(), func.sum(seconds), *cols)
            .where(Step.started_at.is_not(None), Step.finished_at.is_not(None))
            .group_by(Step.agency, Step.status)
        )
        out: list[LatencyHistogram] = []
        with self.store.session() as s:
            for row in s.execute(q):
                agency, status, count, total, *per_bucket = row
                out.append(
                    LatencyHistogram(
                        agency,
                        status,
                        tuple((b, int(n or 0)) for b, n in zip(bounds, per_bucket, strict=True)),
                        int(count),
                        float(total or 0.0),
                    )
                )
        return out

    def _duration_seconds(self) -> ColumnElement[float]:
        # Date arithmetic differs by backend: SQLite has Julian days, PostgreSQL intervals.
        if self.store.engine.dialect.name == "sqlite":
            return cast(
                (func.julianday(Step.finished_at) - func.julianday(Step.started_at)) * 86400.0,
                Float,
            )
        return cast(func.extract("epoch", Step.finished_at - Step.started_at), Float)
