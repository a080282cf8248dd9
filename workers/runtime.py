"""The process's wiring: settings, store, agencies, runner and service, built once.

Actors and commands call :func:`get_runtime`; tests may install their own with
:func:`set_runtime` (for example with a sandbox whose faults they control).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import timedelta

import dramatiq

from agencies.config import Agencies, AgencySettings, build_agencies
from checks.api import CheckService
from checks.config import Settings
from checks.runner import CheckRunner
from checks.store import Store
from workers.broker import setup_broker
from workers.dispatch import BrokerDispatcher
from workers.settings import WorkerSettings


@dataclass
class Runtime:
    """Everything a worker or command needs, built from one set of settings."""

    settings: Settings
    worker_settings: WorkerSettings
    store: Store
    agencies: Agencies
    broker: dramatiq.Broker
    runner: CheckRunner
    service: CheckService

    @property
    def stale_after(self) -> timedelta:
        """No-progress time after which the reconciler re-queues a check."""
        return timedelta(seconds=self.settings.stale_after_seconds)

    @property
    def deadline(self) -> timedelta:
        """Time after submission by which every check must have ended."""
        return timedelta(seconds=self.settings.deadline_seconds)


def build_runtime(
    settings: Settings | None = None,
    worker_settings: WorkerSettings | None = None,
    agency_settings: AgencySettings | None = None,
    broker: dramatiq.Broker | None = None,
    agencies: Agencies | None = None,
) -> Runtime:
    """Wire a runtime; anything not given is read from the environment."""
    settings = settings or Settings.from_env()
    worker_settings = worker_settings or WorkerSettings.from_env()
    store = Store(settings)
    agencies = agencies or build_agencies(agency_settings or AgencySettings.from_env())
    if agencies.sandbox is None:  # live agencies: real people's data, real signatures
        settings.validate_live(using_development_key=store.cipher.using_development_key)
    store.migrate()
    broker = broker or setup_broker(worker_settings)
    return Runtime(
        settings=settings,
        worker_settings=worker_settings,
        store=store,
        agencies=agencies,
        broker=broker,
        runner=CheckRunner(
            store,
            agencies,
            lease_seconds=settings.lease_seconds,
            sequential=worker_settings.sequential,
        ),
        service=CheckService(
            store,
            BrokerDispatcher(broker),
            agencies.names(),
            broker_name=worker_settings.safe_broker_url,
        ),
    )


_runtime: Runtime | None = None
_lock = threading.Lock()


def get_runtime() -> Runtime:
    """The process's runtime, built from the environment on first use."""
    global _runtime
    with _lock:
        if _runtime is None:
            _runtime = build_runtime()
        return _runtime


def set_runtime(runtime: Runtime | None) -> None:
    """Install a runtime (tests), or forget it so the next use rebuilds from the environment."""
    global _runtime
    with _lock:
        _runtime = runtime
