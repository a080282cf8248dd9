"""The outbox: a check's run message is recorded with the check and sent after the commit.

The broker is only transport, and it can be down when a check is submitted. The message is
therefore written as a row in the same transaction as the check (:func:`record`), sent once
the transaction has committed, and put back as unsent if the broker does not take it. What was
never sent is sent again by a resubmission with the same idempotency key, or by the sweep that
each worker runs with its reconcile schedule, instead of waiting for the stale-check reconciler.
A message sent twice is harmless: a check's lease lets one worker run it. Notices and fraud
filings, written before their messages too, are sent again by :func:`resend_claimed`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

import structlog
from sqlalchemy import Connection, insert, select, update
from sqlalchemy.orm import Session

from checks.errors import BrokerUnavailable
from checks.models import OutboxMessage, utcnow

if TYPE_CHECKING:  # the store records into the outbox, so it imports this module
    from checks.store import Store

log = structlog.get_logger(__name__)

RUN = "run"

_Id = TypeVar("_Id", str, int)


@dataclass(frozen=True)
class FlushReport:
    """What one pass over the outbox did."""

    sent: list[str]
    #: The broker refused or was unreachable; these stay in the outbox.
    unsent: list[str]


def record(s: Session | Connection, check_id: str, kind: str = RUN) -> None:
    """Add a message to the outbox inside the caller's transaction (the check's own)."""
    s.execute(
        insert(OutboxMessage).values(check_id=check_id, kind=kind, created_at=utcnow(), attempts=0)
    )


def resend_claimed(
    claimed: Sequence[_Id], send: Callable[[_Id], None], event: str, counted_as: str
) -> None:
    """Send again what a reconciler claimed as stale (notices, filings), with one warning."""
    for item in claimed:
        send(item)
    if claimed:
        log.warning(event, **{counted_as: len(claimed)})


class Outbox:
    """Sends what the outbox holds through a ``send(check_id)`` callable (the dispatcher)."""

    def __init__(self, store: Store, send: Callable[[str], None], broker_name: str) -> None:
        self.store = store
        self.send = send
        #: Named in errors (without credentials), so an operator knows what to look at.
        self.broker_name = broker_name

    def add(self, check_id: str, kind: str = RUN) -> None:
        """Add a message in a transaction of its own (a rerun, after reopening the check)."""
        with self.store.transaction() as c:
            record(c, check_id, kind)

    def pending(
        self, check_id: str | None = None, older_than: timedelta | None = None, limit: int = 500
    ) -> list[tuple[int, str]]:
        """Unsent messages as ``(id, check_id)``, oldest first."""
        q = (
            select(OutboxMessage.id, OutboxMessage.check_id)
            .where(OutboxMessage.sent_at.is_(None))
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
        if check_id is not None:
            q = q.where(OutboxMessage.check_id == check_id)
        if older_than is not None:
            q = q.where(OutboxMessage.created_at <= utcnow() - older_than)
        with self.store.transaction() as c:
            return [(int(r.id), str(r.check_id)) for r in c.execute(q)]

    def flush(
        self, check_id: str | None = None, older_than: timedelta | None = None
    ) -> FlushReport:
        """Send what is pending (for one check, or all); stop at the first broker failure.

        Stopping early keeps a sweep from hammering a broker that is down; the rest waits for
        the next pass.
        """
        sent: list[str] = []
        rows = self.pending(check_id, older_than)
        for index, (message_id, cid) in enumerate(rows):
            if not self._claim(message_id):
                continue  # another submission or sweep is sending it right now
            try:
                self.send(cid)
            except Exception as exc:  # any broker client error: the message stays unsent
                self._release(message_id, type(exc).__name__)
                log.warning("outbox.send_failed", check_id=cid, error=type(exc).__name__)
                return FlushReport(sent, [c for _, c in rows[index:]])
            sent.append(cid)
        return FlushReport(sent, [])

    def send_now(self, check_id: str) -> None:
        """Send this check's pending messages; raise :class:`BrokerUnavailable` if not sent."""
        report = self.flush(check_id)
        if report.unsent:
            raise BrokerUnavailable(
                f"check {check_id} is stored, but its message could not be sent: the broker "
                f"({self.broker_name}) is unreachable; resubmit with the same idempotency key "
                "or leave it to a worker's outbox sweep once the broker is back"
            )

    def _claim(self, message_id: int) -> bool:
        """Mark a message sent before sending it; False if someone else already has.

        Two submissions of one key at once both see the message pending: only the one whose
        update matches sends it. A crash between this and the send loses the message, which
        the stale-check reconciler then re-queues, as it did before the outbox.
        """
        with self.store.transaction() as c:
            res = c.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == message_id, OutboxMessage.sent_at.is_(None))
                .values(sent_at=utcnow(), attempts=OutboxMessage.attempts + 1, last_error=None)
            )
            return bool(res.rowcount)

    def _release(self, message_id: int, error: str) -> None:
        """The broker did not take it: back to unsent, with the error's name."""
        with self.store.transaction() as c:
            c.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == message_id)
                .values(sent_at=None, last_error=error[:200])
            )
