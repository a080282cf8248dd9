"""Shared fixtures: a fresh store per test, the sandbox, the stub broker and a worker.

Environment defaults are set before any project module is imported, so the actors are declared
on the in-process StubBroker with small backoffs.
"""

from __future__ import annotations

import os

os.environ.setdefault("CHECKS_BROKER_URL", "stub://")
os.environ.setdefault("CHECKS_RETRY_MIN_BACKOFF_MS", "20")
os.environ.setdefault("CHECKS_RETRY_MAX_BACKOFF_MS", "100")
os.environ.setdefault("CHECKS_MAX_RETRIES", "2")
os.environ.setdefault("CHECKS_LOG_LEVEL", "INFO")

import socket  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import dramatiq  # noqa: E402
import pytest  # noqa: E402

from agencies.config import AgencySettings, build_agencies  # noqa: E402
from checks.config import Settings  # noqa: E402
from workers.runtime import Runtime, build_runtime, set_runtime  # noqa: E402

PG_ADMIN_URL = os.environ.get(
    "CHECKS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("CHECKS_TEST_REDIS_URL", "redis://127.0.0.1:6379/7")

#: Fast quick-retries for every agency, so fault tests do not sleep.
FAST_POLICY = {
    "backoff_initial": 0.001,
    "backoff_max": 0.005,
    "max_retry_after": 0.0,
    "breaker_reset": 0.05,
}


def fast_agency_settings(**kwargs: object) -> AgencySettings:
    """Sandbox settings with quick retries shortened for tests."""
    names = ("experian", "equifax", "callcredit", "cifas", "imrg")
    return AgencySettings(policy_overrides={n: FAST_POLICY for n in names}, **kwargs)  # type: ignore[arg-type]


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip integration tests (saying why) where Redis or PostgreSQL is not running.

    With CHECKS_REQUIRE_INTEGRATION=1 (as CI sets) a missing service is an error instead.
    """
    missing = [
        name
        for name, port in (("PostgreSQL", 5432), ("Redis", 6379))
        if not _reachable("127.0.0.1", port)
    ]
    if not missing:
        return
    why = f"integration test needs {' and '.join(missing)} on 127.0.0.1 (not reachable)"
    if os.environ.get("CHECKS_REQUIRE_INTEGRATION") == "1":
        raise pytest.UsageError(why + "; CHECKS_REQUIRE_INTEGRATION=1 forbids skipping")
    for item in items:
        if "integration" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=why))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite file."""
    return f"sqlite:///{tmp_path / 'checks.db'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards."""
    from sqlalchemy import create_engine, text

    name = f"checks_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def stub_broker() -> Iterator[dramatiq.Broker]:
    """The StubBroker the actors are declared on, emptied after the test."""
    from workers.actors import broker

    _empty(broker)
    yield broker
    _empty(broker)


def _empty(broker: dramatiq.Broker) -> None:
    """Empty every queue, and forget messages a stopped worker took and never finished.

    A worker stopped with a message in hand (a server's in-process worker, say) leaves that
    message counted as unfinished, and ``broker.join`` in a later test would wait for it.
    """
    broker.flush_all()
    for queue in getattr(broker, "queues", {}).values():
        with queue.all_tasks_done:
            queue.unfinished_tasks = 0
            queue.all_tasks_done.notify_all()


def make_runtime(database_url: str, **agency_kwargs: object) -> Runtime:
    """A runtime on the given database with a fast sandbox; installed as the process's."""
    from workers.actors import broker

    settings = Settings(database_url=database_url)
    agencies = build_agencies(fast_agency_settings(**agency_kwargs))
    rt = build_runtime(settings=settings, agencies=agencies, broker=broker)
    set_runtime(rt)
    return rt


@pytest.fixture
def runtime(sqlite_url: str, stub_broker: dramatiq.Broker) -> Iterator[Runtime]:
    """A runtime on a fresh SQLite store, with the sandbox, on the stub broker."""
    rt = make_runtime(sqlite_url)
    yield rt
    set_runtime(None)
    rt.store.dispose()


@pytest.fixture
def worker(stub_broker: dramatiq.Broker) -> Iterator[dramatiq.Worker]:
    """A Dramatiq worker consuming the stub broker in this process."""
    w = dramatiq.Worker(stub_broker, worker_timeout=20, worker_threads=4)
    w.start()
    yield w
    w.stop()
    # A stopped worker's hook stays on the broker and would start consumers for queues
    # declared later, stealing their messages: remove it.
    stub_broker.middleware[:] = [
        m for m in stub_broker.middleware if getattr(m, "worker", None) is not w
    ]
