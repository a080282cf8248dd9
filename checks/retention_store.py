"""The store's retention part: the sweep, legal holds and erasure (and, inherited, subject access).

The facts and the purge they share are :mod:`checks.retention_records`; the subject access
reads are :mod:`checks.subject_access_store`. :class:`RetentionStore` is all of them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select, tuple_, update

from checks.models import Check, Subject, utcnow
from checks.retention import KeepReason, Retention, blocking, record_purge_from, start_of_day
from checks.retention_records import OpenRecord, RetentionRecords
from checks.subject_access_store import SubjectNotFound

__all__ = ["ErasureOutcome", "RetentionStore", "SubjectNotFound", "SweepReport"]


@dataclass
class SweepReport:
    """What one sweep purged and kept, and why (counts; ids of what was purged)."""

    as_of: date
    dry_run: bool
    purged_checks: list[str] = field(default_factory=list)
    purged_subjects: list[str] = field(default_factory=list)
    kept_flagged: int = 0
    kept_held: int = 0
    kept_other: int = 0
    skipped_busy: int = 0
    batches: int = 0

    def as_dict(self) -> dict[str, Any]:
        """SPEC.md's ``retention sweep --json`` shape, with the purged ids alongside."""
        return {
            "as_of": self.as_of.isoformat(),
            "dry_run": self.dry_run,
            "purged": {"checks": len(self.purged_checks), "subjects": len(self.purged_subjects)},
            "kept": {
                "flagged": self.kept_flagged,
                "held": self.kept_held,
                "retention_period": self.kept_other,
            },
            "purged_ids": {"checks": self.purged_checks, "subjects": self.purged_subjects},
            "skipped_busy": self.skipped_busy,
        }


@dataclass(frozen=True)
class ErasureOutcome:
    """What an erasure removed, and what it had to keep (with the retention that keeps it)."""

    subject_id: str
    erased_checks: list[str]
    subject_erased: bool
    retained: dict[str, Retention]


class RetentionStore(RetentionRecords):
    """Retention reads and writes over the checks database."""

    # -- the sweep ------------------------------------------------------------------------

    def sweep(
        self,
        as_of: date,
        *,
        dry_run: bool = False,
        batch_size: int = 1000,
        actor: str = "retention",
    ) -> SweepReport:
        """Purge every record whose retention has ended on ``as_of``, in batches.

        Each batch is one transaction (a crash loses only the batch in hand, and the next run
        carries on). Candidates come from the index of unpurged checks by retention date, so the
        cost follows the expired rows, not the table. ``dry_run`` reads only.
        """
        report = SweepReport(as_of=as_of, dry_run=dry_run)
        # Names this run in its audit events (the sweep's summary and each batch's purge).
        run = {"run": uuid.uuid4().hex, "as_of": as_of.isoformat()}
        cut = start_of_day(as_of + timedelta(days=1))
        after: tuple[datetime, str] | None = None
        while True:
            after = self._sweep_batch(report, cut, after, batch_size, run, actor)
            if after is None:
                break
            report.batches += 1
        if not dry_run:
            self.store.audit_action(
                None,
                "retention_sweep",
                actor,
                **run,
                purged_checks=len(report.purged_checks),
                purged_subjects=len(report.purged_subjects),
                kept_flagged=report.kept_flagged,
                kept_held=report.kept_held,
                batches=report.batches,
            )
        return report

    def _sweep_batch(
        self,
        report: SweepReport,
        cut: datetime,
        after: tuple[datetime, str] | None,
        batch_size: int,
        run: dict[str, str],
        actor: str,
    ) -> tuple[datetime, str] | None:
        as_of, dry_run = report.as_of, report.dry_run
        now = utcnow()
        with self.engine.begin() as c:
            if not dry_run:
                self._write_lock(c)
            q = (
                select(Check.id, Check.retention_until, Check.subject_id, Check.joint_subject_id)
                .where(Check.purged_at.is_(None), Check.retention_until < cut)
                .order_by(Check.retention_until, Check.id)
                .limit(batch_size)
            )
            if after is not None:
                q = q.where(tuple_(Check.retention_until, Check.id) > tuple_(*after))
            candidates = c.execute(q).all()
            if not candidates:
                return None
            last = (candidates[-1].retention_until, candidates[-1].id)
            wanted = {s for r in candidates for s in (r.subject_id, r.joint_subject_id) if s}
            owned = wanted if dry_run else self._lock_subjects(c, wanted)
            records, rets = self._retentions(c, owned)
            # Co-applicants on the owned subjects' other checks: needed to purge those too.
            others = {s for r in records for s in r.subject_ids} - wanted
            if others:
                owned |= others if dry_run else self._lock_subjects(c, others)
            by_id = {r.id: r for r in records}

            to_purge = self._triage(c, report, candidates, by_id, owned, rets)
            whole, purge_subjects = _whole_subjects(records, owned, rets, as_of)
            to_purge |= whole
            if dry_run:
                # Nothing changes, so a later batch may meet the same records again.
                report.purged_checks += sorted(to_purge - set(report.purged_checks))
                report.purged_subjects += sorted(purge_subjects - set(report.purged_subjects))
                return last
            checks_done, subjects_done = self._purge(c, to_purge, purge_subjects, now)
            report.purged_checks += checks_done
            report.purged_subjects += subjects_done
            if checks_done or subjects_done:
                self.store._audit(
                    c,
                    actor,
                    "retention_purged",
                    None,
                    **run,
                    checks=checks_done,
                    subjects=subjects_done,
                )
        return last

    def _triage(
        self,
        c: Connection,
        report: SweepReport,
        candidates: Sequence[Any],
        by_id: dict[str, OpenRecord],
        owned: set[str],
        rets: dict[str, Retention],
    ) -> set[str]:
        """The candidates that may go now; the others are counted by why they stay and (unless
        a dry run) moved out of the sweep's window until they may go."""
        as_of, dry_run = report.as_of, report.dry_run
        to_purge: set[str] = set()
        for cand in candidates:
            rec = by_id.get(cand.id)
            if rec is None:  # purged meanwhile by a sweep that held its subject
                continue
            if not set(rec.subject_ids) <= owned:
                report.skipped_busy += 1  # another sweep holds a subject: it is theirs
                continue
            keeper = blocking([rets[s] for s in rec.subject_ids], as_of)
            if keeper is None:
                to_purge.add(rec.id)
                continue
            if keeper.reason is KeepReason.LEGAL_HOLD:
                report.kept_held += 1
            elif keeper.reason is KeepReason.FLAGGED:
                report.kept_flagged += 1
            else:
                report.kept_other += 1
            until = record_purge_from([rets[s] for s in rec.subject_ids])
            if not dry_run and until is not None:
                # Out of the sweep's window until it may go: later sweeps skip it cheaply.
                c.execute(
                    update(Check)
                    .where(Check.id == rec.id)
                    .values(retention_until=start_of_day(until))
                )
        return to_purge

    # -- legal hold -----------------------------------------------------------------------

    def set_hold(self, subject_id: str, reason: str | None, actor: str) -> bool:
        """Place (``reason`` given) or lift (None) a legal hold; returns whether it changed."""
        now = utcnow()
        with self.store.session() as s:
            subject = s.get(Subject, subject_id, with_for_update=True)
            if subject is None:
                raise SubjectNotFound(f"no subject {subject_id}")
            changed = subject.legal_hold != (reason is not None)
            subject.legal_hold = reason is not None
            subject.hold_reason = reason
            subject.held_at = now if reason is not None else None
            self.store._audit(
                s,
                actor,
                "legal_hold_placed" if reason is not None else "legal_hold_released",
                None,
                subject_id=subject_id,
                **({"reason": reason} if reason is not None else {}),
            )
        return changed

    # -- erasure --------------------------------------------------------------------------

    def erase(self, subject_id: str, actor: str) -> ErasureOutcome:
        """Erase what is not under a flag's retention or a hold; keep (and name) the rest.

        The ordinary retention period does not stop an erasure; a flag, a hold or a check still
        running does. The subject's own details go only when none of their records stays.
        Audited either way.
        """
        now = utcnow()
        today = now.date()
        with self.engine.begin() as c:
            self._write_lock(c)
            exists = c.execute(
                select(Subject.id).where(Subject.id == subject_id).with_for_update()
            ).first()
            if exists is None:
                raise SubjectNotFound(f"no subject {subject_id}")
            records, rets = self._retentions(c, [subject_id], for_erasure=True)
            mine = [r for r in records if subject_id in r.subject_ids]
            retained: dict[str, Retention] = {}
            free: list[str] = []
            for r in mine:
                keeper = blocking([rets[s] for s in r.subject_ids], today)
                if keeper is None:
                    free.append(r.id)
                else:
                    retained[r.id] = keeper
            own = rets[subject_id]
            if not own.expired(today) and not mine:
                retained[subject_id] = own
            erase_subject = not retained
            checks_done, subjects_done = self._purge(
                c, free, [subject_id] if erase_subject else [], now
            )
            if erase_subject:
                c.execute(update(Subject).where(Subject.id == subject_id).values(erased_at=now))
            self.store._audit(
                c,
                actor,
                "erased" if not retained else "erasure_refused",
                None,
                subject_id=subject_id,
                checks=checks_done,
                subject_erased=bool(subjects_done) or erase_subject,
                retained={
                    k: {
                        "reason": v.reason.value,
                        "keep_through": v.keep_through.isoformat() if v.keep_through else None,
                    }
                    for k, v in retained.items()
                },
            )
        return ErasureOutcome(subject_id, checks_done, erase_subject, retained)


def _whole_subjects(
    records: list[OpenRecord], owned: set[str], rets: dict[str, Retention], as_of: date
) -> tuple[set[str], set[str]]:
    """The checks and subjects to purge so that each expired, owned subject goes whole.

    With an expired subject go all of its records (each also expired for its co-applicant),
    and the subject once none of its records stays.
    """
    checks: set[str] = set()
    subjects: set[str] = set()
    records_of: dict[str, list[OpenRecord]] = {}
    for r in records:
        for s in r.subject_ids:
            records_of.setdefault(s, []).append(r)
    for s in owned:
        if not rets[s].expired(as_of):
            continue
        mine = records_of.get(s, [])
        free = [
            r
            for r in mine
            if set(r.subject_ids) <= owned
            and blocking([rets[x] for x in r.subject_ids], as_of) is None
        ]
        checks.update(r.id for r in free)
        if len(free) == len(mine):
            subjects.add(s)
    return checks, subjects
