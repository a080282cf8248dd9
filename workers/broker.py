"""Broker set-up from ``CHECKS_BROKER_URL``: Redis, RabbitMQ, or the in-process stub."""

from __future__ import annotations

from typing import Any, cast

import dramatiq
from dramatiq.asyncio import EventLoopThread, set_event_loop_thread
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import (
    AgeLimit,
    AsyncIO,
    Callbacks,
    CurrentMessage,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from workers.settings import WorkerSettings

#: The queue every check message goes to.
CHECKS_QUEUE = "checks"
#: The queue for housekeeping (notifications, reconciliation, retention).
HOUSEKEEPING_QUEUE = "housekeeping"


class CalmAsyncIO(AsyncIO):
    """Dramatiq's AsyncIO middleware, with worker threads that check for interrupts each second.

    A thread running an async actor waits on the coroutine's future and wakes every
    ``interrupt_check_ival`` (Dramatiq: 0.1 s) to notice a time limit or shutdown. With
    hundreds of checks in flight per process that is thousands of wake-ups a second, each
    taking the GIL from the event loop that does the actual work (measured: a burst of 100
    checks at 1 s agency latency took 3.5 s instead of 1.3 s). Limits are still enforced,
    up to a second late.
    """

    def before_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        loop_thread = EventLoopThread(self.logger, interrupt_check_ival=1.0)
        loop_thread.start(timeout=1.0)
        set_event_loop_thread(loop_thread)


class FairRedisBroker(RedisBroker):
    """Dramatiq's Redis broker, taking at most ``fetch_batch`` messages per fetch.

    A consumer fetches as many messages as it may hold (twice its threads): a burst lands
    whole on whichever process polls first while the others idle, and checks are CPU-bound
    in the worker. Small fetches share a burst between processes; the cap on messages held
    per process (the concurrency) is unchanged, since a consumer fetches again as soon as its
    cache is empty. Measured: a burst of 50 checks at 1 s agency latency was all taken by one
    of two processes (p50 1.65 s); fetching 4 at a time split it 20/30 (p50 1.45 s).
    """

    def __init__(self, *, fetch_batch: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # type: ignore[no-untyped-call]
        self.fetch_batch = max(1, fetch_batch)

    def do_fetch(self, queue_name: str, prefetch: int) -> list[bytes]:
        fetch = self._dispatch("fetch")  # type: ignore[no-untyped-call]
        return cast(list[bytes], fetch(queue_name, min(prefetch, self.fetch_batch)))


def _middleware() -> list[dramatiq.Middleware]:
    return [
        AgeLimit(),
        TimeLimit(),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(),
        CurrentMessage(),
        CalmAsyncIO(),
    ]


def build_broker(settings: WorkerSettings) -> dramatiq.Broker:
    """A broker for the settings' URL, with the middleware the actors rely on."""
    url = settings.broker_url
    if url.startswith("stub:"):
        return StubBroker(middleware=_middleware())
    if url.startswith(("redis:", "rediss:")):
        return FairRedisBroker(
            fetch_batch=settings.fetch_batch,
            url=url,
            middleware=_middleware(),
            heartbeat_timeout=settings.heartbeat_timeout_ms,
            maintenance_chance=settings.maintenance_chance,
        )
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    return RabbitmqBroker(url=url, middleware=_middleware())


_broker: dramatiq.Broker | None = None


def setup_broker(settings: WorkerSettings | None = None) -> dramatiq.Broker:
    """Build the process's broker once from the environment and make it Dramatiq's global."""
    global _broker
    if _broker is None:
        _broker = build_broker(settings or WorkerSettings.from_env())
        dramatiq.set_broker(_broker)
    return _broker


class QuickPollWorker(dramatiq.Worker):
    """A Dramatiq worker whose consumers poll an idle queue often, and whose threads do not.

    Dramatiq uses one ``worker_timeout`` for both: how long a consumer sleeps when its queue
    is empty (latency added to every message that arrives at an idle worker), and how long
    each worker thread waits on the in-process work queue before looking again. With hundreds
    of threads (hundreds of checks in flight), a short wait wakes every idle thread dozens
    of times a second and they fight the event loop for the GIL; measured, a burst of 100
    checks took five times longer. Consumers get ``poll_ms``; threads keep Dramatiq's 1 s.
    """

    def __init__(self, broker: dramatiq.Broker, *, poll_ms: int = 30, **kwargs: Any) -> None:
        super().__init__(broker, **kwargs)
        self.poll_ms = poll_ms

    def _add_consumer(self, queue_name: str, *, delay: bool = False) -> None:
        # ConsumerThread reads the timeout when it is built; worker threads are built later.
        threads_wait, self.worker_timeout = self.worker_timeout, self.poll_ms
        try:
            super()._add_consumer(queue_name, delay=delay)
        finally:
            self.worker_timeout = threads_wait
