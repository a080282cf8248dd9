"""Sending check messages: the Dramatiq implementation of ``checks.api.Dispatcher``."""

from __future__ import annotations

import dramatiq
from dramatiq.message import Message

from workers.broker import CHECKS_QUEUE


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
