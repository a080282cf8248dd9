"""What the broker holds: queue depths and whether it answers, for any configured broker."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.stub import StubBroker


def queue_depths(broker: dramatiq.Broker) -> dict[str, int]:
    """Messages waiting per declared queue (delay queues included under their own names)."""
    depths: dict[str, int] = {}
    for name in sorted(broker.get_declared_queues()):
        if isinstance(broker, StubBroker):
            depths[name] = broker.queues[name].qsize()
        elif hasattr(broker, "get_queue_message_counts"):  # RabbitMQ: ready + delayed
            ready, delayed, _dead = broker.get_queue_message_counts(name)
            depths[name] = int(ready) + int(delayed)
        else:  # Redis: the broker's own size command
            depths[name] = int(broker.do_qsize(name))  # type: ignore[attr-defined]
    return depths


def broker_reachable(broker: dramatiq.Broker) -> bool:
    """Whether the broker answers now (the in-process stub always does)."""
    if isinstance(broker, StubBroker):
        return True
    try:
        client = getattr(broker, "client", None)
        if client is not None:  # Redis
            return bool(client.ping())
        queue_depths(broker)  # RabbitMQ: a passive declare of each queue
        return True
    except Exception:  # any failure to reach it is the answer, not an error
        return False
