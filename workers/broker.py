"""Broker set-up from ``CHECKS_BROKER_URL``: Redis, RabbitMQ, or the in-process stub."""

from __future__ import annotations

import dramatiq
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


def _middleware() -> list[dramatiq.Middleware]:
    return [
        AgeLimit(),
        TimeLimit(),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(),
        CurrentMessage(),
        AsyncIO(),
    ]


def build_broker(settings: WorkerSettings) -> dramatiq.Broker:
    """A broker for the settings' URL, with the middleware the actors rely on."""
    url = settings.broker_url
    if url.startswith("stub:"):
        return StubBroker(middleware=_middleware())
    if url.startswith(("redis:", "rediss:")):
        from dramatiq.brokers.redis import RedisBroker

        return RedisBroker(  # type: ignore[no-untyped-call]
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
