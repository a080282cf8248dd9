"""Encryption keys in use: which rows each key protects, rotation, and a missing key.

Every encrypted column (every binary column of the schema: Fernet tokens) is found from the
table definitions, so a table added later is rotated and counted without a change here.
Rotation re-encrypts each row under the newest key in small batches, one transaction each,
skipping rows already under it: an interrupted rotation is resumed by running it again. A row
that no configured key can read is never touched; it is reported, since only the old key
brings it back. Subjects' identity hashes move to the newest key in the same pass, so that
removing the old key afterwards does not lose anyone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import LargeBinary, Table, func, select, update

from checks.crypto import Cipher, EncryptionKeyError
from checks.errors import EncryptionKeyMissing
from checks.identity import identity_hashes
from checks.inputs import identity_of
from checks.models import Base, Check, Subject, SubjectIdentity, utcnow
from checks.plain import FieldsAsDict
from checks.store import Store

log = structlog.get_logger(__name__)

ENCRYPTION_KEY_MISSING = "encryption_key_missing"
_BATCH = 200

#: ``(done, total)`` after each batch.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class EncryptedColumn:
    """One encrypted column: its table, the table's primary key and the column's name."""

    table: Table
    key: str
    column: str

    @property
    def name(self) -> str:
        """``table.column``."""
        return f"{self.table.name}.{self.column}"


def encrypted_columns() -> list[EncryptedColumn]:
    """Every binary column of the schema whose table has a one-column primary key."""
    found: list[EncryptedColumn] = []
    for table in Base.metadata.sorted_tables:
        pk = list(table.primary_key.columns)
        if len(pk) != 1:
            continue
        found.extend(
            EncryptedColumn(table, pk[0].name, c.name)
            for c in table.columns
            if isinstance(c.type, LargeBinary)
        )
    return found


@dataclass
class KeyReport:
    """Rows under each configured key (newest first), and rows no configured key can read."""

    fingerprints: list[str]
    rows_by_key: list[int]
    unreadable: int = 0
    by_column: dict[str, dict[str, int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON form (``keys check --json``)."""
        return {
            "keys": [
                {"position": i, "fingerprint": fp, "rows": n}
                for i, (fp, n) in enumerate(zip(self.fingerprints, self.rows_by_key, strict=True))
            ],
            "unreadable": self.unreadable,
            "columns": self.by_column,
        }


@dataclass
class RotationReport(FieldsAsDict):
    """What a rotation did."""

    rotated: int = 0
    already_current: int = 0
    unreadable: int = 0
    subjects_rehashed: int = 0


class KeyService:
    """Counts and rotates encrypted rows; the CLI and the HTTP API both call this."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.cipher: Cipher = store.cipher

    def _tokens(self, col: EncryptedColumn) -> Iterator[list[tuple[Any, bytes]]]:
        """The column's non-null tokens as ``(primary key, token)``, in batches by key."""
        pk, value = col.table.c[col.key], col.table.c[col.column]
        last: Any = None
        while True:
            q = select(pk, value).where(value.is_not(None)).order_by(pk).limit(_BATCH)
            if last is not None:
                q = q.where(pk > last)
            with self.store.transaction() as c:
                rows = [(r[0], bytes(r[1])) for r in c.execute(q)]
            if not rows:
                return
            yield rows
            last = rows[-1][0]

    def total_rows(self) -> int:
        """Encrypted values in the database (for progress)."""
        total = 0
        with self.store.transaction() as c:
            for col in encrypted_columns():
                value = col.table.c[col.column]
                total += int(c.scalar(select(func.count()).where(value.is_not(None))) or 0)
        return total

    def check(self, progress: Progress | None = None) -> KeyReport:
        """Count the rows under each configured key, and those none can read."""
        fingerprints = self.cipher.key_fingerprints
        report = KeyReport(fingerprints, [0] * len(fingerprints))
        total, done = (self.total_rows() if progress else 0), 0
        for col in encrypted_columns():
            counts = report.by_column.setdefault(col.name, {})
            for batch in self._tokens(col):
                for _, token in batch:
                    index = self.cipher.key_index(token)
                    label = "unreadable" if index is None else fingerprints[index]
                    counts[label] = counts.get(label, 0) + 1
                    if index is None:
                        report.unreadable += 1
                    else:
                        report.rows_by_key[index] += 1
                done += len(batch)
                if progress:
                    progress(done, total)
        return report

    def rotate(self, progress: Progress | None = None) -> RotationReport:
        """Re-encrypt every readable row under the newest key; resumable by running again."""
        report = RotationReport()
        total, done = (self.total_rows() if progress else 0), 0
        for col in encrypted_columns():
            pk, value = col.table.c[col.key], col.table.c[col.column]
            for batch in self._tokens(col):
                changes: list[tuple[Any, bytes, bytes]] = []
                for key, token in batch:
                    index = self.cipher.key_index(token)
                    if index is None:
                        report.unreadable += 1
                    elif index == 0:
                        report.already_current += 1
                    else:
                        changes.append((key, token, self.cipher.rotate(token)))
                with self.store.transaction() as c:
                    for key, old, new in changes:
                        # Only if unchanged meanwhile (a worker may have rewritten the row).
                        res = c.execute(
                            update(col.table).where(pk == key, value == old).values({value: new})
                        )
                        report.rotated += res.rowcount
                done += len(batch)
                if progress:
                    progress(done, total)
        report.subjects_rehashed = self._rehash_subjects()
        log.info("keys.rotated", **report.as_dict())
        return report

    def _rehash_subjects(self) -> int:
        """Move subjects' identity hashes onto the newest key (lookups try every key)."""
        from agencies.contract import Person

        moved = 0
        last = ""
        while True:
            with self.store.session() as s:
                rows = s.execute(
                    select(Subject.id, Subject.pii, Subject.identity_hash)
                    .where(Subject.pii.is_not(None), Subject.id > last)
                    .order_by(Subject.id)
                    .limit(_BATCH)
                ).all()
                for row in rows:
                    try:
                        person = Person.model_validate_json(self.cipher.decrypt(row.pii))
                    except EncryptionKeyError:
                        continue
                    newest = self.cipher.identity_hash(identity_of(person))
                    if newest != row.identity_hash:
                        s.execute(
                            update(Subject).where(Subject.id == row.id).values(identity_hash=newest)
                        )
                        moved += 1
                    # Lookups go through every postcode's hash: add those under the newest key.
                    self._add_identities(s, row.id, identity_hashes(self.cipher, person)[0])
            if not rows:
                return moved
            last = rows[-1].id

    @staticmethod
    def _add_identities(s: Any, subject_id: str, hashes: list[str]) -> None:
        known = set(
            s.scalars(
                select(SubjectIdentity.identity_hash).where(
                    SubjectIdentity.identity_hash.in_(hashes)
                )
            )
        )
        now = utcnow()
        for h in hashes:
            if h not in known:
                s.add(SubjectIdentity(subject_id=subject_id, identity_hash=h, created_at=now))

    def require_readable(self, check_id: str) -> None:
        """Raise :class:`EncryptionKeyMissing` unless the check's request can be decrypted."""
        with self.store.session() as s:
            token = s.scalar(select(Check.request_enc).where(Check.id == check_id))
        if token is not None and self.cipher.key_index(bytes(token)) is None:
            raise EncryptionKeyMissing(missing_key_message(check_id))


def missing_key_message(check_id: str) -> str:
    """The failure reason of a check whose data no configured key can read."""
    return (
        f"{ENCRYPTION_KEY_MISSING}: check {check_id} was encrypted with a key that is no longer "
        "in CHECKS_ENCRYPTION_KEYS; add that key back (after the newest) to read it"
    )
