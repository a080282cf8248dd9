"""Redis and RabbitMQ for the same integration test: a runtime sending to either broker.

RabbitMQ runs on 127.0.0.1:5672 (guest/guest). Each test gets a virtual host of its own
(made with ``rabbitmqctl``), so its queues are empty and no other process consumes them; where
RabbitMQ or ``rabbitmqctl`` is missing, the RabbitMQ variant is skipped, saying why.
"""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator

import pytest

from agencies.config import build_agencies
from bench.chaos import rabbit_vhost
from checks.config import Settings
from tests.conftest import REDIS_URL, fast_agency_settings
from tests.integration.conftest import ENCRYPTION_KEY
from workers.broker import build_broker
from workers.runtime import Runtime, build_runtime
from workers.settings import WorkerSettings

BROKERS = ("redis", "rabbitmq")


def rabbit_missing() -> str | None:
    """Why RabbitMQ tests cannot run here, or None."""
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=0.5).close()
    except OSError:
        return "RabbitMQ is not running on 127.0.0.1:5672"
    if shutil.which("rabbitmqctl") is None:
        return "rabbitmqctl (to make a virtual host per test) is not installed"
    return None


@pytest.fixture
def rabbit_url() -> Iterator[str]:
    """An AMQP URL on a fresh RabbitMQ virtual host, deleted afterwards."""
    missing = rabbit_missing()
    if missing:
        pytest.skip(missing)
    with rabbit_vhost() as url:
        yield url


@pytest.fixture(params=BROKERS)
def broker_url(request: pytest.FixtureRequest) -> str:
    """The test Redis database, or a fresh RabbitMQ virtual host."""
    if request.param == "redis":
        return REDIS_URL
    return str(request.getfixturevalue("rabbit_url"))


@pytest.fixture
def broker_runtime(pg_url: str, broker_url: str) -> Iterator[Runtime]:
    """The test process's runtime on PostgreSQL, sending to ``broker_url``."""
    ws = WorkerSettings(broker_url=broker_url)
    broker = build_broker(ws)
    rt = build_runtime(
        settings=Settings(database_url=pg_url, encryption_keys=(ENCRYPTION_KEY,)),
        worker_settings=ws,
        broker=broker,
        agencies=build_agencies(fast_agency_settings()),
    )
    yield rt
    rt.store.dispose()
    broker.close()
