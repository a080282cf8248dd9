"""Wiring for financial associations: the Dramatiq notice dispatcher and the service.

The CLI, the actors and the HTTP API all get their :class:`AssociationService` from
:func:`association_service`, so they share one configuration.
"""

from __future__ import annotations

from datetime import timedelta

from checks.association_service import AssociationService
from workers.dispatch import QueueSender
from workers.runtime import Runtime, get_runtime

#: The actor that sends one notice of disassociation (declared in ``workers.actors``).
NOTICE_ACTOR = "send_disassociation_notice"


class BrokerNoticeDispatcher(QueueSender):
    """Queues one ``send_disassociation_notice`` message per notice (see :class:`QueueSender`)."""

    def send_notice(self, notice_id: int) -> None:
        """Queue the delivery of one notice."""
        self._send(NOTICE_ACTOR, notice_id)


def notice_stale_after(rt: Runtime) -> timedelta:
    """How long a notice may go without an attempt before the reconciler re-queues it.

    Longer than the longest retry backoff (a notice waiting for its next retry is not lost),
    and at least the checks' own staleness time.
    """
    longest = timedelta(milliseconds=2 * rt.worker_settings.notice_max_backoff_ms)
    return max(longest, rt.stale_after)


def association_service(rt: Runtime | None = None) -> AssociationService:
    """The associations service on the runtime's store, broker and agencies."""
    rt = rt or get_runtime()
    return AssociationService(rt.store, BrokerNoticeDispatcher(rt.broker), rt.agencies.adapters)
