"""Broker set-up from ``CHECKS_BROKER_URL``: Redis, RabbitMQ, or the in-process stub."""

from __future__ import annotations

import gc
import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any, cast

import dramatiq
from dramatiq.asyncio import EventLoopThread, set_event_loop_thread
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.common import dq_name, q_name
from dramatiq.middleware import (
    AgeLimit,
    AsyncIO,
    Callbacks,
    CurrentMessage,
    Pipelines,
    Retries,
    ShutdownNotifications,
    SkipMessage,
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


class FrozenStartupHeap(dramatiq.Middleware):
    """Hides what a worker process holds from start-up to exit from the garbage collector.

    The modules, ORM models, compiled statements and settings a worker loads are hundreds of
    thousands of objects that live as long as the process; every full collection walked them
    all again (about 4 % of a worker's CPU at 0 ms agency latency, measured with ``perf``).
    ``gc.freeze()`` once the process has booted moves them to a generation that is never
    collected; what a check allocates is collected as before. Once per process: a test that
    boots several workers in one process freezes only what was alive at the first.
    """

    _frozen = False

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if not FrozenStartupHeap._frozen:
            FrozenStartupHeap._frozen = True
            gc.collect()  # what start-up left behind goes now, not frozen with the rest
            gc.freeze()


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


#: How long a message that reached a stopping worker waits before it is tried again, in ms:
#: longer than the stop itself, so it goes to another worker (or this one, restarted).
STOPPING_RETRY_DELAY_MS = 15_000
_stopping_threads: set[threading.Thread] = set()
_stopping_lock = threading.Lock()


class StopAwareness(dramatiq.Middleware):
    """Remembers which worker threads belong to a worker that is stopping.

    Dramatiq stops a worker's threads while its consumers still feed the work queue (to keep
    heartbeats going), and a thread idle in ``work_queue.get`` can still take a message after
    the stop began: a check claimed then would be abandoned when the event loop stops, its
    lease held. Such a message is handed back unstarted instead: queued again as it is (its
    retry count unchanged) to run after :data:`STOPPING_RETRY_DELAY_MS`, and skipped here.
    Last in the middleware list, so every other middleware's ``before_process_message`` has
    run and their after-hooks match.
    """

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        with _stopping_lock:
            _stopping_threads.update(worker.workers)

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        with _stopping_lock:
            _stopping_threads.difference_update(worker.workers)

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        # Runs on the worker thread (an async actor's body runs on the event loop's thread).
        with _stopping_lock:
            stopping = threading.current_thread() in _stopping_threads
        if stopping:
            broker.enqueue(message, delay=STOPPING_RETRY_DELAY_MS)
            raise SkipMessage("this worker is stopping; queued again")


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
        FrozenStartupHeap(),
        StopAwareness(),
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


#: How long a stopping worker process waits for its threads, in ms (Dramatiq: ten minutes). A
#: running check is interrupted at once (``notify_shutdown``) and releases its lease, so this
#: only bounds a thread stuck in a blocking call; workers then consumers each get at most this
#: long, which keeps a stop well under 30 s.
STOP_TIMEOUT_MS = 10_000
#: Signals that ask a worker process to stop.
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)

SignalHandler = Callable[[int, FrameType | None], Any]


class StopSignalGuard:
    """A worker process's stop-signal handler: one stop, however many copies of the signal.

    ``kill -TERM -- -PGID`` signals the worker process directly *and* its parent, which forwards
    a second SIGTERM at once. Dramatiq's handler takes a second signal as "kill now" and raises
    ``SystemExit`` in the main thread, possibly inside ``Worker.stop``: the consumer threads are
    never stopped, and since they are not daemons, the interpreter waits for them for ever (main
    thread in ``threading._shutdown``, consumers in ``__next__``, heartbeat still fresh, nothing
    redelivered). Here a repeat within ``window`` seconds of the first is the same stop and is
    ignored; a later one, a deliberate "kill now", ends the process at once (``os._exit``),
    which cannot hang on threads; what it held is redelivered and its leases lapse.
    """

    def __init__(
        self,
        forward: SignalHandler,
        *,
        window: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        hard_exit: Callable[[int], Any] = os._exit,
    ) -> None:
        self.forward = forward
        self.window = window
        self.clock = clock
        self.hard_exit = hard_exit
        self.first: float | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        """Handle one delivery of a stop signal."""
        now = self.clock()
        if self.first is None:
            self.first = now
            self.forward(signum, frame)
        elif now - self.first >= self.window:
            self.hard_exit(1)  # Dramatiq's exit status for a killed worker process

    @classmethod
    def install(cls) -> None:
        """Wrap this process's stop-signal handlers (main thread only; others are kept)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in STOP_SIGNALS:
            current = signal.getsignal(sig)
            if callable(current) and not isinstance(current, cls):
                signal.signal(sig, cls(current))


#: Longest idle poll of a delay queue (retries, and messages handed back by a stopping worker),
#: in ms. Each poll of an idle queue is a Redis script call (about as much CPU as a message's
#: acknowledgement): at ``poll_ms`` a delay queue cost each process ~40 calls a second for
#: messages due seconds to minutes later (a retry's backoff), so it is polled less often; a
#: delayed message is queued again at most this late.
DELAY_POLL_MS = 250


class QuickPollWorker(dramatiq.Worker):
    """A Dramatiq worker whose consumers poll an idle queue often, and whose threads do not.

    Dramatiq uses one ``worker_timeout`` for both: how long a consumer sleeps when its queue
    is empty (latency added to every message that arrives at an idle worker), and how long
    each worker thread waits on the in-process work queue before looking again. With hundreds
    of threads (hundreds of checks in flight), a short wait wakes every idle thread dozens
    of times a second and they fight the event loop for the GIL; measured, a burst of 100
    checks took five times longer. Consumers of work queues get ``poll_ms``, those of delay
    queues at least :data:`DELAY_POLL_MS`; threads keep Dramatiq's 1 s.
    """

    def __init__(
        self,
        broker: dramatiq.Broker,
        *,
        poll_ms: int = 15,
        guard_stop_signals: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(broker, **kwargs)
        self.poll_ms = poll_ms
        #: In a ``checkctl worker`` process: see :class:`StopSignalGuard`.
        self.guard_stop_signals = guard_stop_signals

    def start(self) -> None:
        """Start consumers and threads (after Dramatiq's worker process set its handlers)."""
        if self.guard_stop_signals:
            StopSignalGuard.install()
        super().start()

    def _add_consumer(self, queue_name: str, *, delay: bool = False) -> None:
        # ConsumerThread reads the timeout when it is built; worker threads are built later.
        # The stub broker lists its delay queues among the declared queues too: known by name.
        delay = delay or queue_name == dq_name(q_name(queue_name))
        poll = max(self.poll_ms, DELAY_POLL_MS) if delay else self.poll_ms
        threads_wait, self.worker_timeout = self.worker_timeout, poll
        try:
            super()._add_consumer(queue_name, delay=delay)
        finally:
            self.worker_timeout = threads_wait
