"""The facts retention is judged on, and the purge the sweep and an erasure share.

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

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
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
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from checks.models import (
    Association,
    AssociationEvidence,
    Check,
    FraudCaseRecord,
    Review,
    Step,
    Subject,
    SubjectFlag,
    SubjectIdentity,
)
from checks.retention import RecordFacts, Retention, SubjectFacts, record_purge_from
from checks.states import TERMINAL
from checks.store import Store
from checks.subject_access_store import SubjectAccessStore


@dataclass(frozen=True)
class OpenRecord:
    """A check not yet purged, with its subjects."""

    id: str
    subject_ids: tuple[str, ...]
    facts: RecordFacts
    retention_until: datetime | None


class RetentionRecords(SubjectAccessStore):
    """Retention facts of subjects and their records, and the purge of expired ones."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.engine = store.engine
        self._postgres = self.engine.dialect.name == "postgresql"

    def _in(self, column: SQLColumnExpression[Any], values: Collection[str]) -> ColumnElement[bool]:
        """``column IN values``; on PostgreSQL one array parameter (``= ANY``), not one each.

        A batch names hundreds of ids: binding them one by one cost more than the queries.
        """
        if self._postgres:
            return column == any_(bindparam(None, list(values), type_=ARRAY(String)))
        return column.in_(list(values))

    # -- facts ----------------------------------------------------------------------------

    def _records(self, c: Connection, subject_ids: Collection[str]) -> list[OpenRecord]:
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
            OpenRecord(
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
        self, c: Connection, subject_ids: Collection[str], records: Iterable[OpenRecord]
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
    ) -> tuple[list[OpenRecord], dict[str, Retention]]:
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
        purged_checks = self._clear(
            c,
            Check,
            check_ids,
            Check.purged_at.is_(None),
            {"request_enc": None, "purged_at": now, "updated_at": now},
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
        # ``pii IS NOT NULL`` (not ``purged_at``): a subject found again by a new check gets new
        # details, and those are purged in their turn.
        purged_subjects = self._clear(
            c,
            Subject,
            subject_ids,
            Subject.pii.is_not(None),
            # The legacy lookup column is unique and not null: make it unfindable.
            {"pii": None, "purged_at": now, "identity_hash": "purged:" + Subject.id},
        )
        if subject_ids:
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

    def _clear(
        self,
        c: Connection,
        model: type[Check] | type[Subject],
        ids: Collection[str],
        still_held: ColumnElement[bool],
        values: dict[str, Any],
    ) -> list[str]:
        """Set ``values`` on the rows among ``ids`` where ``still_held``; the ids it changed."""
        if not ids:
            return []
        changed = c.scalars(
            update(model)
            .where(self._in(model.id, ids), still_held)
            .values(values)
            .returning(model.id)
        )
        return list(changed)
