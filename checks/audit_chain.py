"""The tamper-evident audit trail: a hash chain over the audit events, sealed after commit.

Every check writes audit events from many threads and processes; chaining each event as it is
written would need one lock held until commit around every check's transactions, serialising
them all. Instead each event is written with the hash of its own content (``digest``, no lock),
and a sealer gives the committed ones, in batches under one short lock, their place in the chain
(``seq``) and ``hash = sha256(previous hash, id, digest)``. A unique ``seq`` makes a fork
impossible even if two sealers ran at once. Workers seal every minute and ``audit verify``
seals first; before its seal an event is protected by its digest alone (an edit that also
recomputes the digest, or a deletion, goes unseen until then).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError

from checks.models import AuditEvent

#: The "previous hash" of the first event.
GENESIS = "0" * 64
#: A PostgreSQL advisory lock key: one sealer at a time (the others skip their turn).
_SEAL_LOCK = 724312


def event_digest(
    at: datetime,
    actor: str,
    action: str,
    check_id: str | None,
    detail: dict[str, Any] | None,
) -> str:
    """The hash of an event's content, computed as it is written (no lock, no chain).

    The chain is sealed later, so this is what lets the sealer and ``audit verify`` tell that
    an event was edited even before it had its place in the chain.
    """
    body = json.dumps(
        {
            "at": at.astimezone(UTC).isoformat(),
            "actor": actor,
            "action": action,
            "check_id": check_id,
            "detail": detail,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def chain_hash(prev_hash: str, event_id: int, digest: str) -> str:
    """The hash of an event chained to the one before it."""
    return hashlib.sha256(f"{prev_hash}:{event_id}:{digest}".encode("ascii")).hexdigest()


def _digest_of(r: Any) -> str:
    return event_digest(r.at, r.actor, r.action, r.check_id, r.detail)


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of walking the chain: how many events, and the first broken one if any."""

    events: int
    broken_event_id: int | None = None
    broken_seq: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        """Whether every sealed event is intact and in place."""
        return self.broken_event_id is None


_COLUMNS = (
    AuditEvent.id,
    AuditEvent.at,
    AuditEvent.actor,
    AuditEvent.action,
    AuditEvent.check_id,
    AuditEvent.detail,
    AuditEvent.digest,
)
_SEAL = (
    update(AuditEvent)
    .where(AuditEvent.id == bindparam("p_id"), AuditEvent.seq.is_(None))
    .values(
        seq=bindparam("p_seq"),
        prev_hash=bindparam("p_prev"),
        hash=bindparam("p_hash"),
        digest=bindparam("p_digest"),
    )
)


class AuditChain:
    """Seals committed audit events into the hash chain, and verifies the chain."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def seal(self, batch_size: int = 2000) -> int:
        """Chain every committed event not chained yet; returns how many were sealed."""
        total = 0
        while True:
            try:
                sealed = self._seal_batch(batch_size)
            except (IntegrityError, OperationalError):
                # Another sealer took the same places first (or SQLite's writer lock was busy):
                # what it sealed is sealed; the rest goes in the next turn.
                return total
            total += sealed
            if sealed < batch_size:
                return total

    def _seal_batch(self, batch_size: int) -> int:
        with self.engine.begin() as c:
            if not self._take_lock(c):
                return 0
            tail = c.execute(
                select(AuditEvent.seq, AuditEvent.hash)
                .where(AuditEvent.seq.is_not(None))
                .order_by(AuditEvent.seq.desc())
                .limit(1)
            ).first()
            seq, prev = (tail.seq, tail.hash) if tail is not None else (0, GENESIS)
            rows = c.execute(
                select(*_COLUMNS)
                .where(AuditEvent.seq.is_(None))
                .order_by(AuditEvent.id)
                .limit(batch_size)
            ).all()
            params = []
            for r in rows:
                seq += 1
                # The digest written with the event is chained as it is: an event edited before
                # this seal still fails verification. Events from before 0005 have none yet.
                digest = r.digest or _digest_of(r)
                h = chain_hash(prev, r.id, digest)
                params.append(
                    {"p_id": r.id, "p_seq": seq, "p_prev": prev, "p_hash": h, "p_digest": digest}
                )
                prev = h
            if params:
                c.execute(_SEAL, params)
            return len(rows)

    def _take_lock(self, c: Connection) -> bool:
        if c.dialect.name == "postgresql":
            return bool(c.execute(text(f"SELECT pg_try_advisory_xact_lock({_SEAL_LOCK})")).scalar())
        # SQLite: take the writer lock before reading the tail, so the tail cannot go stale.
        c.execute(update(AuditEvent).where(AuditEvent.id.is_(None)).values(actor="sealer"))
        return True

    def verify(self, page: int = 5000) -> VerifyReport:
        """Seal what is pending, then walk the chain in order; report the first broken event."""
        self.seal()
        expected_seq, prev, count = 1, GENESIS, 0
        with self.engine.connect() as c:
            while True:
                rows = c.execute(
                    select(*_COLUMNS, AuditEvent.seq, AuditEvent.prev_hash, AuditEvent.hash)
                    .where(AuditEvent.seq >= expected_seq)
                    .order_by(AuditEvent.seq)
                    .limit(page)
                ).all()
                if not rows:
                    return VerifyReport(events=count)
                for r in rows:
                    if r.seq != expected_seq:
                        return VerifyReport(
                            count,
                            r.id,
                            r.seq,
                            f"the event(s) before it (place {expected_seq} to {r.seq - 1}) "
                            "were deleted",
                        )
                    if r.prev_hash != prev:
                        return VerifyReport(
                            count, r.id, r.seq, "its link to the previous event was altered"
                        )
                    if _digest_of(r) != r.digest:
                        return VerifyReport(
                            count, r.id, r.seq, "its content no longer matches its hash (edited)"
                        )
                    if chain_hash(prev, r.id, r.digest) != r.hash:
                        return VerifyReport(count, r.id, r.seq, "its hash in the chain was altered")
                    prev, expected_seq, count = r.hash, expected_seq + 1, count + 1
