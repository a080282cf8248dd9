"""Sending check messages: the Dramatiq implementation of ``checks.api.Dispatcher``."""

from __future__ import annotations

import dramatiq
from dramatiq.message import Message

from workers.broker import CHECKS_QUEUE, HOUSEKEEPING_QUEUE


class BrokerDispatcher:
    """Queues one ``run_check`` message per check on any broker.

    It builds the message by name rather than through the actor object, so a process that only
    submits (an order flow) does not need the actors declared on its broker.
    """

    def __init__(self, broker: dramatiq.Broker) -> None:
        self.broker = broker
        broker.declare_queue(CHECKS_QUEUE)

    def send_run(self, check_id: str) -> None:
        """Queue a run of the check."""
        self.broker.enqueue(
            Message(
                queue_name=CHECKS_QUEUE,
                actor_name="run_check",
                args=(check_id,),
                kwargs={},
                options={},
            )
        )


class BrokerReviewDispatcher:
    """The Dramatiq implementation of ``checks.review_service.ReviewDispatcher``.

    Messages are built by name (as :class:`BrokerDispatcher` does), so the CLI and the HTTP
    API can queue them without declaring the actors.
    """

    def __init__(self, broker: dramatiq.Broker) -> None:
        self.broker = broker
        broker.declare_queue(HOUSEKEEPING_QUEUE)

    def _send(self, actor_name: str, arg: str) -> None:
        self.broker.enqueue(
            Message(
                queue_name=HOUSEKEEPING_QUEUE,
                actor_name=actor_name,
                args=(arg,),
                kwargs={},
                options={},
            )
        )

    def send_notify(self, check_id: str) -> None:
        """Queue ``notify_requester`` for the check's new outcome."""
        self._send("notify_requester", check_id)

    def send_file_case(self, case_id: str) -> None:
        """Queue ``file_case`` for a confirmed case."""
        self._send("file_case", case_id)
