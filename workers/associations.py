"""Wiring for financial associations: the Dramatiq notice dispatcher and the service.

The CLI, the actors and the HTTP API all get their :class:`AssociationService` from
:func:`association_service`, so they share one configuration.
"""

from __future__ import annotations

from datetime import timedelta

import dramatiq
from dramatiq.message import Message

from checks.association_service import AssociationService
from workers.broker import HOUSEKEEPING_QUEUE
from workers.runtime import Runtime, get_runtime

#: The actor that sends one notice of disassociation (declared in ``workers.actors``).
NOTICE_ACTOR = "send_disassociation_notice"


class BrokerNoticeDispatcher:
    """Queues one ``send_disassociation_notice`` message per notice, by actor name.

    By name, like :class:`workers.dispatch.BrokerDispatcher`, so a process that only records
    disassociations (the HTTP API) need not declare the actors; the actor's retry options
    apply when a worker runs it.
    """

    def __init__(self, broker: dramatiq.Broker) -> None:
        self.broker = broker
        broker.declare_queue(HOUSEKEEPING_QUEUE)

    def send_notice(self, notice_id: int) -> None:
        """Queue the delivery of one notice."""
        self.broker.enqueue(
            Message(
                queue_name=HOUSEKEEPING_QUEUE,
                actor_name=NOTICE_ACTOR,
                args=(notice_id,),
                kwargs={},
                options={},
            )
        )


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
