"""Jobs that run once per period across any number of worker processes, surviving restarts.

Each worker process may ask to run a job whenever it likes; the database row of the job says
which period last ran. Claiming is one conditional update, so exactly one process wins a period.
A claim whose run never finished (the process died) may be taken again after ``stale_after``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from checks.models import ScheduledJob


def claim(engine: Engine, name: str, period: str, now: datetime, stale_after: timedelta) -> bool:
    """Claim ``period`` (e.g. ``"2026-11-30"``) of job ``name``; True for exactly one caller.

    Periods must sort as strings in time order (ISO dates do).
    """
    with engine.begin() as c:
        exists = c.execute(select(ScheduledJob.name).where(ScheduledJob.name == name)).first()
        if exists is None:
            try:
                with c.begin_nested():
                    c.execute(insert(ScheduledJob).values(name=name, period=period, started_at=now))
                return True
            except IntegrityError:
                pass  # another process created it (and so claimed this period) first
        won = c.execute(
            update(ScheduledJob)
            .where(
                ScheduledJob.name == name,
                or_(
                    ScheduledJob.period < period,
                    # The same period, started but never finished by a process that died.
                    (ScheduledJob.period == period)
                    & ScheduledJob.finished_at.is_(None)
                    & (ScheduledJob.started_at < now - stale_after),
                ),
            )
            .values(period=period, started_at=now, finished_at=None)
        )
        return bool(won.rowcount)


def finish(engine: Engine, name: str, period: str, now: datetime) -> None:
    """Record that the claimed period's run finished."""
    with engine.begin() as c:
        c.execute(
            update(ScheduledJob)
            .where(ScheduledJob.name == name, ScheduledJob.period == period)
            .values(finished_at=now)
        )
