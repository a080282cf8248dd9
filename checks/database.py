"""The database under every part of the store: the engine, its sessions and the migrations.

One engine per process and URL, sized for a worker's threads; a SQLite file gets the pragmas
that let readers and one writer share it. Migrations run once per process and URL, serialised
across processes (an advisory lock, or a lock file beside a SQLite database).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from checks import direct
from checks import statements as q
from checks.audit_chain import event_digest
from checks.config import Settings
from checks.crypto import Cipher
from checks.group_commit import DEFERRED_AUDIT
from checks.models import utcnow
from checks.schema_head import at_head

if TYPE_CHECKING:
    from checks.association_store import AssociationStore

T = TypeVar("T")

#: The Alembic scripts (``env.py`` and ``versions/``).
MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str) -> Engine:
    """An engine for ``url``: SQLite with WAL and foreign keys, PostgreSQL with a worker's pool."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, pool_pre_ping=True
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            # WAL lets readers (checkctl show) proceed while a worker writes.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    # A worker runs store calls on 16 threads (CheckRunner) plus housekeeping actors: a pool
    # smaller than that opens and closes a connection (a PostgreSQL backend) per overflow use;
    # measured, 2.7 ms of machine CPU per check at 10 + 20 overflow.
    return create_engine(url, pool_pre_ping=True, pool_size=24, max_overflow=8)


@contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    """An exclusive lock on a file beside a SQLite database (no-op for other databases).

    SQLite has no advisory lock, and Alembic's first ``CREATE TABLE alembic_version`` races
    between processes; a lock file serialises the migrations themselves.
    """
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    import fcntl

    try:
        handle = open(f"{database}.migrate-lock", "a+b")  # noqa: SIM115 - closed below
    except OSError:
        # No directory to put it in: connecting fails too, with the database's own error.
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_migrated: set[str] = set()
_migrate_lock = threading.Lock()


def migrate(engine: Engine, url: str) -> None:
    """Bring the schema at ``url`` to the latest Alembic revision (once per process and URL)."""
    with _migrate_lock:
        if url in _migrated:
            return
        # Most commands find the schema current: say so without importing Alembic.
        with engine.connect() as conn:
            current = at_head(conn)
            conn.rollback()
        if current:
            _migrated.add(url)
            return
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection_url"] = url
        # Several processes may start at once on a new database (20 parallel first submits):
        # one migrates, the others wait, then find nothing left to do.
        with _sqlite_file_lock(engine), engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(724311)")
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        _migrated.add(url)


class Database:
    """The base of every part of the store: settings, cipher, engine and transactions."""

    #: Financial associations, set up by :class:`checks.store.Store` (they build on it): linked
    #: at submission and decision, shown in the view.
    associations: AssociationStore

    def __init__(self, settings: Settings, cipher: Cipher | None = None) -> None:
        self.settings = settings
        self.cipher = cipher or Cipher(settings.encryption_keys)
        self.engine = make_engine(settings.database_url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def migrate(self) -> None:
        """Bring the schema to the latest Alembic revision (once per process and URL)."""
        migrate(self.engine, self.settings.database_url)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on error."""
        with self._sessions.begin() as s:
            yield s

    @contextmanager
    def transaction(self, tx: Connection | None = None) -> Iterator[Connection]:
        """One transaction of Core statements: what a worker runs for every check.

        The hot path (claim, step outcomes, decision) needs no object graph; plain statements
        with RETURNING take a fraction of the ORM's CPU and round trips. Given ``tx`` (a
        transaction already open), the statements join it instead: reading the outcomes and
        writing the decision is then one transaction, not two.
        """
        if tx is not None:
            yield tx
            return
        with self.engine.begin() as conn:
            yield conn

    def run_steps(
        self,
        steps: Callable[..., direct.Steps[T]],
        /,
        *args: Any,
        tx: Connection | None = None,
        **kwargs: Any,
    ) -> T:
        """Make a write given as steps (``steps(conn, *args, **kwargs)``), one statement after
        another, as one transaction (``tx``, if given: see :meth:`transaction`)."""
        with self.transaction(tx) as c:
            return direct.run(c, steps(c, *args, **kwargs))

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()

    @staticmethod
    def _audit(
        s: Session | Connection, actor: str, action: str, check_id: str | None, **detail: Any
    ) -> None:
        at, body = utcnow(), detail or None
        # The content's hash goes in with the row (no lock); the chain is sealed after commit.
        row = dict(
            at=at,
            actor=actor,
            action=action,
            check_id=check_id,
            detail=body,
            digest=event_digest(at, actor, action, check_id, body),
        )
        # In a group commit the batch's events go in together, in one statement.
        deferred = s.info.get(DEFERRED_AUDIT)
        if deferred is not None:
            deferred.append(row)
        else:
            s.execute(q.AUDIT, row)
