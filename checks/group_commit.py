"""Group commit: one writer per process commits the writes of every running check together.

A check's writes (its claim, each step's outcome and footprint, its decision) are small; what
they cost is the transaction around each one (a pooled connection's checkout and ping, BEGIN,
COMMIT and PostgreSQL's flush of its log). The writer takes the writes queued by all checks,
runs them in one transaction on its own connection, and answers each write only once that
transaction has committed, so a caller that has its answer knows its rows are durable. Writes
given as steps (:data:`checks.direct.Steps`) have their statements pipelined together: a
batch costs as many round trips as its longest write has statements, not all of them added.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeAlias, TypeVar

import structlog
from sqlalchemy import Connection, Engine

from checks import direct
from checks.config import Settings
from checks.statements import AUDIT

log = structlog.get_logger(__name__)
T = TypeVar("T")

#: The window on PostgreSQL when ``CHECKS_GROUP_COMMIT_MS`` is not set.
DEFAULT_WINDOW_MS = 2

#: Key of ``Connection.info`` under which a batch collects its audit events, so they are
#: inserted in one statement at the end of the batch (see ``Store._audit``).
DEFERRED_AUDIT = "checks.deferred_audit"

#: A write: statements run on the given connection, inside a transaction it does not end; it
#: returns its result, or its steps (:data:`checks.direct.Steps`) for the writer to make.
Write = Callable[[Connection], "T | direct.Steps[T]"]


class _LoopWaiter:
    """An asyncio future waiting on the writer, and its loop.

    Answered in bulk: a batch wakes each loop once (one ``call_soon_threadsafe``, one write
    to its self-pipe) for all of that loop's writes, where a concurrent future per write
    (``asyncio.wrap_future``) woke it once per write.
    """

    __slots__ = ("future", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.future: asyncio.Future[Any] = loop.create_future()


#: Who waits on a write: a thread (``submit``) or a coroutine (``write``).
_Waiter: TypeAlias = "Future[Any] | _LoopWaiter"
_Queued: TypeAlias = "tuple[Write[Any], _Waiter]"
#: A write's answer: (waiter, its result, or the exception it raised).
_Answer: TypeAlias = "tuple[_Waiter, Any, BaseException | None]"


def _start(waiter: _Waiter) -> bool:
    """Whether the write is still wanted (its waiter was not cancelled); a thread's future
    can no longer be cancelled after this."""
    if isinstance(waiter, Future):
        return waiter.set_running_or_notify_cancel()
    return not waiter.future.cancelled()


def _settle(answers: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    """On a waiting loop: answer each of its writes (those still awaited)."""
    for future, result, exc in answers:
        if future.done():  # cancelled meanwhile (or failed by a dying writer)
            continue
        if exc is None:
            future.set_result(result)
        else:
            future.set_exception(exc)


def _answer(answers: list[_Answer]) -> None:
    """Answer every waiter: threads at once, and each loop once, with all of its answers."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Any]] = {}
    for waiter, result, exc in answers:
        if isinstance(waiter, Future):
            if exc is None:
                waiter.set_result(result)
            else:
                waiter.set_exception(exc)
        else:
            by_loop.setdefault(waiter.loop, []).append((waiter.future, result, exc))
    for loop, settled in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, settled)
        except RuntimeError:  # the loop was closed: nobody is waiting any more
            log.warning("group_commit.loop_closed", writes=len(settled))


class WriterClosed(RuntimeError):
    """The writer was closed: the write was not made (the caller's retry makes it later)."""


class GroupCommit:
    """Commits queued writes in batches: every ``window_ms``, or at once when ``max_batch``
    are waiting. The window is waited out only while writes come in company: after a batch
    of one write, the next write is made as soon as it comes (a lone check at low load need
    not wait for others that are not coming; under load, writes queue up behind each batch
    anyway, and the window is waited again as soon as a batch holds more than one).

    A write that raises fails only itself: the batch is rolled back and each of its writes
    is made again in a transaction of its own, so the others still commit and the failing
    one's caller gets its own exception. A failed COMMIT fails every write of the batch (its
    outcome is unknown, as a direct write's would be; the callers retry). :meth:`close` makes
    every write already queued before the writer stops.
    """

    def __init__(self, engine: Engine, *, window_ms: float = 2.0, max_batch: int = 200) -> None:
        self.engine = engine
        self.window = window_ms / 1000
        self.max_batch = max_batch
        self._queue: deque[_Queued] = deque()
        self._cond = threading.Condition()
        self._closed = False
        #: Batches committed and writes answered (for tests and logs).
        self.batches = 0
        self.writes = 0
        # Writes in the last batch taken (the first waits out the window).
        self._last_batch = max_batch
        # Started by the first write: a worker builds its runtime before Dramatiq forks its
        # processes, and a thread does not survive a fork.
        self._thread: threading.Thread | None = None
        # The writer's own connection, kept between batches: no pool checkout and ping per
        # batch, and psycopg prepares the statements it sees repeated on it.
        self._conn: Connection | None = None

    def submit(self, write: Write[T]) -> Future[T]:
        """Queue a write; the future is answered once it is durable (or with its error)."""
        done: Future[T] = Future()
        self._enqueue(write, done)
        return done

    async def write(self, write: Write[T]) -> T:
        """Queue a write and wait, without blocking the event loop, until it is durable."""
        waiter = _LoopWaiter(asyncio.get_running_loop())
        self._enqueue(write, waiter)
        result: T = await waiter.future
        return result

    def _enqueue(self, write: Write[Any], waiter: _Waiter) -> None:
        with self._cond:
            if self._closed:
                raise WriterClosed("the group-commit writer is closed")
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
                self._thread.start()
            self._queue.append((write, waiter))
            if len(self._queue) in (1, self.max_batch):  # the writer waits for these two
                self._cond.notify()

    def close(self, timeout: float | None = 30.0) -> None:
        """Stop taking writes, make those already queued, and stop the writer's thread."""
        with self._cond:
            self._closed = True
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        if thread is None or not thread.is_alive():
            self._drop_connection()

    # -- the writer's thread ----------------------------------------------------------------

    def _run(self) -> None:
        batch: list[_Queued] = []
        try:
            while True:
                batch = self._next_batch()
                if not batch:
                    return
                self._commit(batch)
        except BaseException as exc:
            # A writer that stopped must not leave a check waiting for an answer forever.
            log.exception("group_commit.writer_died")
            with self._cond:
                self._closed = True
                batch.extend(self._queue)
                self._queue.clear()
            self._fail([(w, f) for w, f in batch if not _answered(f)], exc)
            raise

    def _next_batch(self) -> list[_Queued]:
        """Wait for a first write, then up to the window for more (unless the last batch was a
        lone write); empty once closed and drained."""
        with self._cond:
            while not self._queue and not self._closed:
                self._cond.wait()
            window = self.window if self._last_batch > 1 or len(self._queue) > 1 else 0.0
            deadline = time.monotonic() + window
            while len(self._queue) < self.max_batch and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            take = self._last_batch = min(len(self._queue), self.max_batch)
            return [self._queue.popleft() for _ in range(take)]

    def _commit(self, batch: list[_Queued]) -> None:
        live = [(w, f) for w, f in batch if _start(f)]
        if not live:
            return
        try:
            if self._conn is None:
                self._conn = self.engine.connect()
            conn = self._conn
            tx = conn.begin()
        except Exception as exc:  # no connection: every write fails, and is retried by its caller
            self._fail(live, exc)
            self._drop_connection()
            return
        try:
            results = self._run_writes(conn, live)
        except Exception:
            try:
                tx.rollback()
            except Exception:  # the connection is gone: each write below fails alone
                log.warning("group_commit.rollback_failed", exc_info=True)
            # One write's own error (a check leased elsewhere, a key no longer configured)
            # must not fail the others': each is made again alone.
            self._one_by_one(conn, live)
            return
        try:
            tx.commit()
        except Exception as exc:
            log.warning("group_commit.commit_failed", writes=len(live), error=repr(exc))
            self._fail(live, exc)
            self._drop_connection()
            return
        self.batches += 1
        self.writes += len(live)
        _answer([(done, result, None) for (_, done), result in zip(live, results, strict=True)])

    @staticmethod
    def _run_writes(conn: Connection, live: list[_Queued]) -> list[Any]:
        """Run every write of a batch (their steps together), then insert their audit events
        in one statement."""
        events: list[dict[str, Any]] = []
        conn.info[DEFERRED_AUDIT] = events
        try:
            return direct.run_together(
                conn,
                [write(conn) for write, _ in live],
                then=lambda: [direct.Insert(AUDIT, events)] if events else [],
            )
        finally:
            del conn.info[DEFERRED_AUDIT]

    def _drop_connection(self) -> None:
        """Forget a connection that failed; the next batch opens another."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()
                conn.close()
            except Exception:
                log.warning("group_commit.close_failed", exc_info=True)

    def _one_by_one(self, conn: Connection, live: list[_Queued]) -> None:
        answers: list[_Answer] = []
        for write, done in live:
            try:
                with conn.begin():
                    answers.append((done, direct.finish(conn, write(conn)), None))
            except Exception as exc:
                answers.append((done, None, exc))
        _answer(answers)
        if conn.invalidated:
            self._drop_connection()

    @staticmethod
    def _fail(live: list[_Queued], exc: BaseException) -> None:
        _answer([(done, None, exc) for _, done in live])


def _answered(waiter: _Waiter) -> bool:
    """Whether a waiter already has its answer (or gave up waiting)."""
    return waiter.done() if isinstance(waiter, Future) else waiter.future.done()


def writer_for(settings: Settings, engine: Engine) -> GroupCommit | None:
    """The writer ``CHECKS_GROUP_COMMIT_MS`` asks for (None: each write commits alone).

    Unset, PostgreSQL gets one and SQLite does not: SQLite has one writer at a time anyway,
    and its commits are cheap.
    """
    window = settings.group_commit_ms
    if window is None:
        window = DEFAULT_WINDOW_MS if engine.dialect.name == "postgresql" else 0
    return GroupCommit(engine, window_ms=window) if window > 0 else None
