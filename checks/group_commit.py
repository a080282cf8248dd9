"""Group commit: one writer per process commits the writes of every running check together.

A check's writes (its claim, each step's outcome and footprint, its decision) are small; what
they cost is the transaction around each one (a pooled connection's checkout and ping, BEGIN,
COMMIT and PostgreSQL's flush of its log). The writer takes the writes queued by all checks,
runs them in one transaction on its own connection, and answers each write only once that
transaction has committed, so a caller that has its answer knows its rows are durable.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

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

#: A write: statements run on the given connection, inside a transaction it does not end.
Write = Callable[[Connection], T]


class WriterClosed(RuntimeError):
    """The writer was closed: the write was not made (the caller's retry makes it later)."""


class GroupCommit:
    """Commits queued writes in batches: every ``window_ms``, or at once when ``max_batch``
    are waiting.

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
        self._queue: deque[tuple[Write[Any], Future[Any]]] = deque()
        self._cond = threading.Condition()
        self._closed = False
        #: Batches committed and writes answered (for tests and logs).
        self.batches = 0
        self.writes = 0
        # Started by the first write: a worker builds its runtime before Dramatiq forks its
        # processes, and a thread does not survive a fork.
        self._thread: threading.Thread | None = None
        # The writer's own connection, kept between batches: no pool checkout and ping per
        # batch, and psycopg prepares the statements it sees repeated on it.
        self._conn: Connection | None = None

    def submit(self, write: Write[T]) -> Future[T]:
        """Queue a write; the future is answered once it is durable (or with its error)."""
        done: Future[T] = Future()
        with self._cond:
            if self._closed:
                raise WriterClosed("the group-commit writer is closed")
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
                self._thread.start()
            self._queue.append((write, done))
            if len(self._queue) in (1, self.max_batch):  # the writer waits for these two
                self._cond.notify()
        return done

    async def write(self, write: Write[T]) -> T:
        """Queue a write and wait, without blocking the event loop, until it is durable."""
        return await asyncio.wrap_future(self.submit(write))

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
        batch: list[tuple[Write[Any], Future[Any]]] = []
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
            self._fail([(w, f) for w, f in batch if not f.done()], exc)
            raise

    def _next_batch(self) -> list[tuple[Write[Any], Future[Any]]]:
        """Wait for a first write, then up to the window for more; empty once closed and
        drained."""
        with self._cond:
            while not self._queue and not self._closed:
                self._cond.wait()
            deadline = time.monotonic() + self.window
            while len(self._queue) < self.max_batch and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            take = min(len(self._queue), self.max_batch)
            return [self._queue.popleft() for _ in range(take)]

    def _commit(self, batch: list[tuple[Write[Any], Future[Any]]]) -> None:
        live = [(w, f) for w, f in batch if f.set_running_or_notify_cancel()]
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
        for (_, done), result in zip(live, results, strict=True):
            done.set_result(result)

    @staticmethod
    def _run_writes(conn: Connection, live: list[tuple[Write[Any], Future[Any]]]) -> list[Any]:
        """Run every write of a batch, then insert their audit events in one statement."""
        events: list[dict[str, Any]] = []
        conn.info[DEFERRED_AUDIT] = events
        try:
            results = [write(conn) for write, _ in live]
        finally:
            del conn.info[DEFERRED_AUDIT]
        if events:
            direct.many(conn, AUDIT, events)
        return results

    def _drop_connection(self) -> None:
        """Forget a connection that failed; the next batch opens another."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()
                conn.close()
            except Exception:
                log.warning("group_commit.close_failed", exc_info=True)

    def _one_by_one(self, conn: Connection, live: list[tuple[Write[Any], Future[Any]]]) -> None:
        for write, done in live:
            try:
                with conn.begin():
                    result = write(conn)
            except Exception as exc:
                done.set_exception(exc)
            else:
                done.set_result(result)
        if conn.invalidated:
            self._drop_connection()

    @staticmethod
    def _fail(live: list[tuple[Write[Any], Future[Any]]], exc: BaseException) -> None:
        for _, done in live:
            done.set_exception(exc)


def writer_for(settings: Settings, engine: Engine) -> GroupCommit | None:
    """The writer ``CHECKS_GROUP_COMMIT_MS`` asks for (None: each write commits alone).

    Unset, PostgreSQL gets one and SQLite does not: SQLite has one writer at a time anyway,
    and its commits are cheap.
    """
    window = settings.group_commit_ms
    if window is None:
        window = DEFAULT_WINDOW_MS if engine.dialect.name == "postgresql" else 0
    return GroupCommit(engine, window_ms=window) if window > 0 else None
