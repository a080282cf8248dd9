"""The Redis broker shares a burst between worker processes: small fetches, not the queue."""

from __future__ import annotations

import redis
from dramatiq.message import Message

from tests.conftest import REDIS_URL
from workers.broker import build_broker
from workers.settings import WorkerSettings


def test_a_consumer_takes_at_most_fetch_batch_messages_and_the_rest_stay_for_others(
    redis_clean: redis.Redis,
) -> None:
    # Given 10 messages queued and two consumers (two worker processes) allowed 100 each
    broker = build_broker(WorkerSettings(broker_url=REDIS_URL, fetch_batch=4))
    broker.declare_queue("shared")
    for i in range(10):
        broker.enqueue(Message("shared", "noop", (i,), {}, {}))
    first = broker.consume("shared", prefetch=100, timeout=10)
    second = broker.consume("shared", prefetch=100, timeout=10)

    # When each takes its next message
    a, b = next(first), next(second)

    # Then each fetched one batch of 4, leaving 2 in the queue, and nothing was lost
    assert a is not None and b is not None
    assert len(first.message_cache) == 3 and len(second.message_cache) == 3
    rest = broker.consume("shared", prefetch=100, timeout=10)
    got = [next(rest), next(rest)]
    seen = {m.args[0] for m in [a, b, *got]} | {
        Message.decode(d).args[0] for d in first.message_cache + second.message_cache
    }
    assert seen == set(range(10))
    for consumer in (first, second, rest):
        consumer.close()
