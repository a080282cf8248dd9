"""Sending messages by actor name: the Dramatiq implementations of the services' dispatchers.

Each dispatcher builds its messages by name rather than through the actor objects, so a process
that only submits or records (an order flow, the CLI, the HTTP API) need not declare the actors;
the actor's retry options apply when a worker runs it.
"""

from __future__ import annotations

import dramatiq
from dramatiq.message import Message

from workers.broker import CHECKS_QUEUE, HOUSEKEEPING_QUEUE


class QueueSender:
    """Enqueues one-argument messages by actor name on ``queue_name`` (housekeeping by default)."""

    queue_name = HOUSEKEEPING_QUEUE

    def __init__(self, broker: dramatiq.Broker) -> None:
        self.broker = broker
        broker.declare_queue(self.queue_name)

    def _send(self, actor_name: str, arg: str | int) -> None:
        self.broker.enqueue(
            Message(
                queue_name=self.queue_name,
                actor_name=actor_name,
                args=(arg,),
                kwargs={},
                options={},
            )
        )


class BrokerDispatcher(QueueSender):
    """The implementation of ``checks.api.Dispatcher``: one ``run_check`` message per check."""

    queue_name = CHECKS_QUEUE

    def send_run(self, check_id: str) -> None:
        """Queue a run of the check."""
        self._send("run_check", check_id)


class BrokerReviewDispatcher(QueueSender):
    """The implementation of ``checks.review_service.ReviewDispatcher``."""

    def send_notify(self, check_id: str) -> None:
        """Queue ``notify_requester`` for the check's new outcome."""
        self._send("notify_requester", check_id)

    def send_file_case(self, case_id: str) -> None:
        """Queue ``file_case`` for a confirmed case."""
        self._send("file_case", case_id)
