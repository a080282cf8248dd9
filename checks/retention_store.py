"""The store's retention part: the sweep, legal holds, erasure, and the subject access reads.

Purging removes personal data and raw agency answers (the encrypted request, each step's result,
the subject's details and identity hashes) and keeps the ids, decision, reason codes, flags and
the footprint ledger. Every purge is audited, in the transaction that makes it, with counts and
ids only.

Concurrency: a batch locks the subjects it works on with ``FOR UPDATE SKIP LOCKED`` (PostgreSQL;
SQLite lets one writer in at a time), and only the holder of a subject's lock purges that
subject's records, each with a conditional update, so two sweeps at once purge each record once
and never wait on each other.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    SQLColumnExpression,
    String,
    any_,
    bindparam,
    delete,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from agencies.contract import Person, ResultEnvelope
from checks.errors import CheckError
from checks.identity import identity_hashes
from checks.models import (
    Association,
    AssociationEvidence,
    Check,
    Footprint,
    FraudCaseRecord,
    Reason,
    Review,
    Step,
    Subject,
    SubjectFlag,
    SubjectIdentity,
    iso,
    utcnow,
)
from checks.retention import (
    KeepReason,
    RecordFacts,
    Retention,
    RetentionPolicy,
    SubjectFacts,
    blocking,
    record_purge_from,
    start_of_day,
)
from checks.states import TERMINAL
from checks.store import Store


class SubjectNotFound(CheckError):
    """No subject has this id."""


@dataclass(frozen=True)
class _Record:
    """A check not yet purged, with its subjects."""

    id: str
    subject_ids: tuple[str, ...]
    facts: RecordFacts
    retention_until: datetime | None


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


class RetentionStore:
    """Retention reads and writes over the checks database."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine
        self.cipher = store.cipher
        self.policy = RetentionPolicy(
            retention_days=store.settings.retention_days,
            flagged_years=store.settings.flagged_retention_years,
        )
        self._postgres = self.engine.dialect.name == "postgresql"

    def _in(self, column: SQLColumnExpression[Any], values: Collection[str]) -> ColumnElement[bool]:
        """``column IN values``; on PostgreSQL one array parameter (``= ANY``), not one each.

        A batch names hundreds of ids: binding them one by one cost more than the queries.
        """
        if self._postgres:
            return column == any_(bindparam(None, list(values), type_=ARRAY(String)))
        return column.in_(list(values))

    # -- facts ----------------------------------------------------------------------------

    def _records(self, c: Connection, subject_ids: Collection[str]) -> list[_Record]:
        """The subjects' checks that are not purged yet (as applicant or joint applicant)."""
        if not subject_ids:
            return []
        columns = (
            Check.id,
            Check.subject_id,
            Check.joint_subject_id,
            Check.status,
            Check.finished_at,
            Check.updated_at,
            Check.legal_hold,
            Check.retention_until,
        )
        # Two indexed lookups rather than one OR, which PostgreSQL may answer with a table scan.
        found = {
            r.id: r
            for column in (Check.subject_id, Check.joint_subject_id)
            for r in c.execute(
                select(*columns).where(Check.purged_at.is_(None), self._in(column, subject_ids))
            )
        }
        rows = list(found.values())
        return [
            _Record(
                id=r.id,
                subject_ids=tuple(s for s in (r.subject_id, r.joint_subject_id) if s),
                facts=RecordFacts(
                    check_id=r.id,
                    ended_at=(r.finished_at or r.updated_at) if r.status in TERMINAL else None,
                    held=bool(r.legal_hold),
                ),
                retention_until=r.retention_until,
            )
            for r in rows
        ]

    def _facts(
        self, c: Connection, subject_ids: Collection[str], records: Iterable[_Record]
    ) -> dict[str, SubjectFacts]:
        """Retention facts of each subject: hold, flag dates and their unpurged records."""
        ids = set(subject_ids)
        held = {
            r.id: bool(r.legal_hold)
            for r in c.execute(
                select(Subject.id, Subject.legal_hold).where(self._in(Subject.id, ids))
            )
        }
        flags: dict[str, list[date]] = {s: [] for s in ids}
        for f in c.execute(
            select(SubjectFlag.subject_id, SubjectFlag.flagged_at).where(
                self._in(SubjectFlag.subject_id, ids)
            )
        ):
            flags[f.subject_id].append(f.flagged_at.astimezone(UTC).date())
        mine: dict[str, list[RecordFacts]] = {s: [] for s in ids}
        for rec in records:
            for s in rec.subject_ids:
                if s in mine:
                    mine[s].append(rec.facts)
        return {
            s: SubjectFacts(s, held.get(s, False), tuple(flags[s]), tuple(mine[s])) for s in ids
        }

    def _retentions(
        self, c: Connection, subject_ids: Collection[str], *, for_erasure: bool = False
    ) -> tuple[list[_Record], dict[str, Retention]]:
        """The subjects' records and the retention of every subject those records name.

        A joint check is kept while either applicant must be, so the co-applicants' own
        retention is computed too (from all of their records).
        """
        records = self._records(c, subject_ids)
        everyone = set(subject_ids) | {s for r in records for s in r.subject_ids}
        if everyone - set(subject_ids):
            records = self._records(c, everyone)
        facts = self._facts(c, everyone, records)
        return records, {
            s: self.policy.subject_retention(f, for_erasure=for_erasure) for s, f in facts.items()
        }

    def retention_of(self, subject_id: str) -> tuple[Retention, dict[str, date | None]]:
        """A subject's retention, and the first purge day of each of their unpurged checks."""
        with self.engine.connect() as c:
            records, rets = self._retentions(c, [subject_id])
        per_check = {
            r.id: record_purge_from([rets[s] for s in r.subject_ids])
            for r in records
            if subject_id in r.subject_ids
        }
        return rets[subject_id], per_check

    # -- writes shared by the sweep and erasure --------------------------------------------

    def _write_lock(self, c: Connection) -> None:
        """SQLite: take the database's write lock now, so what this transaction reads stays true.

        (A deferred SQLite transaction would read, then fail or act on stale reads when it
        first writes after another writer.) PostgreSQL locks rows instead.
        """
        if not self._postgres:
            c.execute(update(Subject).where(Subject.id.is_(None)).values(legal_hold=False))

    def _lock_subjects(self, c: Connection, subject_ids: Collection[str]) -> set[str]:
        """Lock the subjects no one else is working on; returns those this transaction holds."""
        if not subject_ids:
            return set()
        q = select(Subject.id).where(self._in(Subject.id, subject_ids))
        if self._postgres:
            q = q.with_for_update(skip_locked=True)
        return set(c.scalars(q))

    def _purge(
        self, c: Connection, check_ids: Collection[str], subject_ids: Collection[str], now: datetime
    ) -> tuple[list[str], list[str]]:
        """Remove personal data and raw answers; returns the ids this call actually purged."""
        purged_checks: list[str] = []
        if check_ids:
            purged_checks = list(
                c.scalars(
                    update(Check)
                    .where(self._in(Check.id, check_ids), Check.purged_at.is_(None))
                    .values(request_enc=None, purged_at=now, updated_at=now)
                    .returning(Check.id)
                )
            )
        if purged_checks:
            c.execute(
                update(Step).where(self._in(Step.check_id, purged_checks)).values(result_enc=None)
            )
            # What people wrote about the check: the applicant's representations, reviewers'
            # notes and fraud evidence are personal data too.
            c.execute(
                update(Review)
                .where(self._in(Review.check_id, purged_checks))
                .values(representations_enc=None, note_enc=None)
            )
            c.execute(
                update(FraudCaseRecord)
                .where(self._in(FraudCaseRecord.check_id, purged_checks))
                .values(evidence_enc=b"")
            )
        purged_subjects: list[str] = []
        if subject_ids:
            # ``pii IS NOT NULL`` (not ``purged_at``): a subject found again by a new check
            # gets new details, and those are purged in their turn.
            purged_subjects = list(
                c.scalars(
                    update(Subject)
                    .where(self._in(Subject.id, subject_ids), Subject.pii.is_not(None))
                    .values(
                        pii=None,
                        purged_at=now,
                        # The legacy lookup column is unique and not null: make it unfindable.
                        identity_hash="purged:" + Subject.id,
                    )
                    .returning(Subject.id)
                )
            )
            # The keyed hashes are derived from the person's details: they go too.
            c.execute(
                delete(SubjectIdentity).where(self._in(SubjectIdentity.subject_id, subject_ids))
            )
            # Notes about their financial associations may name them.
            pairs = select(Association.id).where(
                or_(
                    self._in(Association.subject_a, subject_ids),
                    self._in(Association.subject_b, subject_ids),
                )
            )
            c.execute(
                update(Association).where(Association.id.in_(pairs)).values(break_note_enc=None)
            )
            c.execute(
                update(AssociationEvidence)
                .where(AssociationEvidence.association_id.in_(pairs))
                .values(note_enc=None)
            )
        return sorted(purged_checks), sorted(purged_subjects)

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
        run_id = uuid.uuid4().hex
        cut = start_of_day(as_of + timedelta(days=1))
        after: tuple[datetime, str] | None = None
        while True:
            after = self._sweep_batch(report, cut, after, batch_size, run_id, actor)
            if after is None:
                break
            report.batches += 1
        if not dry_run:
            self.store.audit_action(
                None,
                "retention_sweep",
                actor,
                run=run_id,
                as_of=as_of.isoformat(),
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
        run_id: str,
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
                    run=run_id,
                    as_of=as_of.isoformat(),
                    checks=checks_done,
                    subjects=subjects_done,
                )
        return last

    def _triage(
        self,
        c: Connection,
        report: SweepReport,
        candidates: Sequence[Any],
        by_id: dict[str, _Record],
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

    # -- subject access -------------------------------------------------------------------

    def find(self, person: Person) -> list[str]:
        """The subjects matching a person by any postcode of their address history."""
        _stored, lookup = identity_hashes(self.cipher, person)
        with self.store.session() as s:
            ids = s.scalars(
                select(SubjectIdentity.subject_id).where(SubjectIdentity.identity_hash.in_(lookup))
            ).all()
            # Two indexed lookups rather than one OR; a subject the purge reached is not found.
            live = select(Subject.id, Subject.created_at).where(Subject.purged_at.is_(None))
            rows = {
                r.id: r.created_at
                for q in (
                    live.where(Subject.id.in_(ids)),
                    live.where(Subject.identity_hash.in_(lookup)),
                )
                for r in s.execute(q)
            }
        return sorted(rows, key=lambda sid: rows[sid])

    def export_data(self, subject_id: str) -> dict[str, Any]:
        """Everything held about one subject, decrypted; no other person's personal data."""
        with self.store.session() as s:
            subject = s.get(Subject, subject_id)
            if subject is None:
                raise SubjectNotFound(f"no subject {subject_id}")
            personal = json.loads(self.cipher.decrypt(subject.pii)) if subject.pii else None
            checks = s.scalars(
                select(Check)
                .where((Check.subject_id == subject_id) | (Check.joint_subject_id == subject_id))
                .order_by(Check.created_at)
            ).all()
            check_ids = [c.id for c in checks]
            steps = s.scalars(
                select(Step).where(Step.check_id.in_(check_ids)).order_by(Step.id)
            ).all()
            reasons = s.scalars(
                select(Reason).where(Reason.check_id.in_(check_ids)).order_by(Reason.position)
            ).all()
            footprints = s.scalars(
                select(Footprint)
                .where(Footprint.subject_id == subject_id)
                .order_by(Footprint.searched_at)
            ).all()
            associations = s.scalars(
                select(Association)
                .where(
                    (Association.subject_a == subject_id) | (Association.subject_b == subject_id)
                )
                .order_by(Association.linked_at)
            ).all()
            flags = s.scalars(
                select(SubjectFlag)
                .where(SubjectFlag.subject_id == subject_id)
                .order_by(SubjectFlag.flagged_at)
            ).all()
            purpose_of = {c.id: c.purpose for c in checks}
            out_checks = []
            for c in checks:
                role = "applicant" if c.subject_id == subject_id else "joint"
                out_checks.append(
                    {
                        "id": c.id,
                        "role": role,
                        "purpose": c.purpose,
                        "product_code": c.product_code,
                        "status": c.status,
                        "decision": c.decision,
                        "reasons": [
                            {"code": r.code, "text": r.text, "agency": r.agency}
                            for r in reasons
                            if r.check_id == c.id
                        ],
                        "failure_reason": c.failure_reason,
                        "submitted_at": iso(c.created_at),
                        "decided_at": iso(c.finished_at),
                        "purged": c.purged_at is not None,
                        "agency_results": [
                            self._plain_result(st)
                            for st in steps
                            if st.check_id == c.id and _step_role(st.role) == role
                        ],
                    }
                )
            return {
                "subject_id": subject_id,
                "personal_data": personal,
                "purged": subject.purged_at is not None,
                "legal_hold": subject.legal_hold,
                "checks": out_checks,
                "footprints": [
                    {
                        "agency": f.agency,
                        "search_type": f.search_type,
                        "searched_at": iso(f.searched_at),
                        "purpose": purpose_of.get(f.check_id),
                        "purpose_code": f.purpose_code,
                        "check_id": f.check_id,
                    }
                    for f in footprints
                ],
                # The associate by id only: never their personal data in this person's export.
                "associations": [
                    {
                        "id": a.id,
                        "associate_subject_id": a.subject_b
                        if a.subject_a == subject_id
                        else a.subject_a,
                        "source": a.source,
                        "source_check_id": a.source_check_id,
                        "linked_at": iso(a.linked_at),
                        "disassociated_at": iso(a.disassociated_at),
                        "status": "broken" if a.disassociated_at else "active",
                    }
                    for a in associations
                ],
                "flags": [
                    {
                        "reason": f.reason,
                        "source": f.source,
                        "check_id": f.check_id,
                        "flagged_at": iso(f.flagged_at),
                        "kept_through": (
                            self.policy.flag_purge_from(f.flagged_at.astimezone(UTC).date())
                            - timedelta(days=1)
                        ).isoformat(),
                    }
                    for f in flags
                ],
            }

    def _plain_result(self, st: Step) -> dict[str, Any]:
        """A step's agency answer in plain form, without anyone else's personal data."""
        out: dict[str, Any] = {
            "agency": st.agency,
            "search_type": st.search_type,
            "status": st.status,
            "searched_at": iso(st.started_at),
        }
        if st.result_enc:
            result = ResultEnvelope.model_validate_json(self.cipher.decrypt(st.result_enc)).result
            plain = result.model_dump(mode="json")
            # Associates named on a credit file are other people: only how many there are.
            if "associates" in plain:
                plain["associates_reported"] = len(plain.pop("associates"))
            out["result"] = plain
        return out


def _whole_subjects(
    records: list[_Record], owned: set[str], rets: dict[str, Retention], as_of: date
) -> tuple[set[str], set[str]]:
    """The checks and subjects to purge so that each expired, owned subject goes whole.

    With an expired subject go all of its records (each also expired for its co-applicant),
    and the subject once none of its records stays.
    """
    checks: set[str] = set()
    subjects: set[str] = set()
    records_of: dict[str, list[_Record]] = {}
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


def _step_role(role: str) -> str:
    return "joint" if role == "joint" else "applicant"
