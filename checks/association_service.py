"""The associations service: list, link and break financial associations; send the notices.

The CLI and the HTTP API call this, never the store: so they cannot disagree. Like
:class:`checks.api.CheckService` it never imports a broker: it is given a
:class:`NoticeDispatcher` that queues one message per notice of disassociation, sent after the
notices are committed (a lost message leaves the notice ``queued``, and breaking the
association again re-sends it with the same client reference).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Protocol

import structlog

from agencies.contract import AgencyAdapter, AgencyKind
from agencies.errors import AgencyError
from checks.associations import (
    MANUAL_SOURCES,
    AssociationNotFound,
    AssociationSource,
    IdentityUnavailable,
    NoticeStatus,
    RequestedBy,
    SameSubject,
)
from checks.errors import CheckError
from checks.models import utcnow
from checks.outbox import resend_claimed
from checks.store import Store

log = structlog.get_logger(__name__)


class NoticeDispatcher(Protocol):
    """Queues the sending of one notice of disassociation."""

    def send_notice(self, notice_id: int) -> None:
        """Queue the notice's delivery."""


class NoticeNotAnswered(CheckError):
    """The CRA has not given a final answer yet (down, or ``pending``): ask again later."""


class AssociationService:
    """Financial associations for the CLI and the HTTP API."""

    def __init__(
        self,
        store: Store,
        dispatcher: NoticeDispatcher,
        adapters: Mapping[str, AgencyAdapter],
    ) -> None:
        self.store = store
        self.links = store.associations
        self.dispatcher = dispatcher
        self.adapters = adapters
        #: Every CRA gets a notice: each keeps its own copy of the link.
        self.cras = sorted(n for n, a in adapters.items() if a.kind is AgencyKind.CRA)

    # -- reading -----------------------------------------------------------------------------

    def associations_of(self, subject_id: str) -> list[dict[str, Any]]:
        """A subject's associations, active and broken, each with its CRA notices.

        Keys as SPEC.md's ``associations list --json``; ids only, never the associate's
        personal data. Raises :class:`AssociationNotFound` for an unknown subject.
        """
        if not self.links.subject_exists(subject_id):
            raise AssociationNotFound(f"no subject {subject_id}")
        return self.links.of_subject(subject_id)

    def get(self, association_id: int) -> dict[str, Any]:
        """One association with its evidence and notices."""
        return self.links.get(association_id)

    # -- recording ---------------------------------------------------------------------------

    def link(
        self,
        subject_a: str,
        subject_b: str,
        source: AssociationSource,
        note: str,
        actor: str = "operator",
    ) -> dict[str, Any]:
        """Record an association a person declared or an operator established.

        Raises :class:`SameSubject` for one person twice, ``ValueError`` for a source other
        than declared or operator, :class:`AssociationNotFound` for an unknown subject.
        """
        if source not in MANUAL_SOURCES:
            raise ValueError("source must be declared or operator")
        if subject_a == subject_b:
            raise SameSubject("an association needs two different people")
        for subject_id in (subject_a, subject_b):
            if not self.links.subject_exists(subject_id):
                raise AssociationNotFound(f"no subject {subject_id}")
        with self.store.session() as s:
            association_id = self.links.link(
                s, subject_a, subject_b, source, check_id=None, actor=actor, now=utcnow(), note=note
            )
        log.info("association.linked", association=association_id, source=source.value)
        return self.links.get(association_id)

    def break_association(
        self, association_id: int, requested_by: RequestedBy, note: str, actor: str = "operator"
    ) -> dict[str, Any]:
        """Record a disassociation and queue a notice to each CRA.

        The association is no longer used from the commit on, whatever the CRAs answer.
        Raises :class:`AssociationNotFound` or :class:`~checks.associations.AlreadyBroken`.
        """
        to_send = self.links.record_break(association_id, requested_by, note, actor, self.cras)
        for notice_id in to_send:
            # Sent after the commit: a notice the worker cannot find does not exist yet.
            self.dispatcher.send_notice(notice_id)
        log.info("association.breaking", association=association_id, notices=len(to_send))
        return self.links.get(association_id)

    # -- delivering --------------------------------------------------------------------------

    async def deliver(self, notice_id: int) -> NoticeStatus | None:
        """Send one notice to its CRA and record the answer.

        Returns the notice's status, or None if it had been answered already or cannot be
        sent at all (recorded on the notice). Raises :class:`NoticeNotAnswered` when it must
        be asked again later: the CRA could not be reached, or it answered ``pending``.
        """
        try:
            prepared = await asyncio.to_thread(self.links.notice_to_send, notice_id)
        except IdentityUnavailable as exc:
            await asyncio.to_thread(self.links.record_failure, notice_id, str(exc), final=True)
            return None
        if prepared is None:
            return None
        adapter = self.adapters.get(prepared.agency)
        try:
            if adapter is None:
                raise NotImplementedError(f"{prepared.agency}: no adapter is configured")
            receipt = await adapter.send_disassociation(prepared.notice)
        except AgencyError as exc:
            await asyncio.to_thread(
                self.links.record_failure, notice_id, str(exc), final=not exc.retryable
            )
            log.warning(
                "notice.failed",
                notice=notice_id,
                agency=prepared.agency,
                code=exc.code,
                retryable=exc.retryable,
            )
            if exc.retryable:
                raise NoticeNotAnswered(f"{prepared.agency}: {exc.code}") from exc
            return None
        except NotImplementedError as exc:
            await asyncio.to_thread(self.links.record_failure, notice_id, str(exc), final=True)
            return None
        status = await asyncio.to_thread(self.links.record_answer, notice_id, receipt)
        log.info("notice.answered", notice=notice_id, agency=prepared.agency, status=status.value)
        if status is NoticeStatus.SENT:
            raise NoticeNotAnswered(f"{prepared.agency}: pending; asking again later")
        return status

    def resend_stale(self, stale_after: timedelta) -> list[int]:
        """Queue again every unanswered notice with no attempt for ``stale_after``.

        Nothing is lost: a notice is written before its message is sent, so a message lost
        with a broker (or a worker) only delays it. Resending is harmless: the CRA recognises
        the client reference. Returns the notices re-queued.
        """
        claimed = self.links.claim_stale_notices(stale_after)
        resend_claimed(claimed, self.dispatcher.send_notice, "notices.requeued", "notices")
        return claimed

    def give_up(self, notice_id: int, why: str) -> None:
        """Record that a notice's retries are exhausted (it stays queued, for an operator)."""
        self.links.record_failure(notice_id, why, final=True)
