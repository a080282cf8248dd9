"""The process's wiring: settings, store, agencies, runner and service, built once.

Actors and commands call :func:`get_runtime`; tests may install their own with
:func:`set_runtime` (for example with a sandbox whose faults they control).
"""

from __future__ import annotations

import atexit
import threading
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING

from checks.config import Settings
from checks.reader import CheckReader
from checks.store import Store

if TYPE_CHECKING:  # imported when a runtime is built: a command that only reads needs none
    import dramatiq

    from agencies.config import Agencies, AgencySettings
    from checks.api import CheckService
    from checks.keys import KeyService
    from checks.ledger import LedgerService
    from checks.review_service import FraudService, ReviewService
    from checks.runner import CheckRunner
    from checks.subjects import RetentionService, SubjectService
    from checks.tokens import TokenService
    from workers.settings import WorkerSettings


@dataclass(frozen=True)
class StoreServices:
    """The services that need the store alone: encryption keys, API tokens, the ledger audit,
    retention (sweep, holds, audit chain) and data-subject rights."""

    keys: KeyService
    tokens: TokenService
    ledger: LedgerService
    retention: RetentionService
    subjects: SubjectService

    @classmethod
    def over(cls, store: Store) -> StoreServices:
        """Each of them over ``store`` (imported here: a command that only reads needs none)."""
        from checks.keys import KeyService
        from checks.ledger import LedgerService
        from checks.subjects import RetentionService, SubjectService
        from checks.tokens import TokenService

        return cls(
            KeyService(store),
            TokenService(store),
            LedgerService(store),
            RetentionService(store),
            SubjectService(store),
        )


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

    @cached_property
    def store_services(self) -> StoreServices:
        """Keys, tokens, the ledger audit, retention and subject rights over this store."""
        return StoreServices.over(self.store)

    @cached_property
    def reviews(self) -> ReviewService:
        """The review queue, contests and reviewers' decisions."""
        from checks.review_service import ReviewService
        from workers.dispatch import BrokerReviewDispatcher

        return ReviewService(self.store, BrokerReviewDispatcher(self.broker))

    @cached_property
    def fraud(self) -> FraudService:
        """Fraud proposals, confirmations and filing."""
        from checks.review_service import FraudService
        from workers.dispatch import BrokerReviewDispatcher

        return FraudService(
            self.store,
            BrokerReviewDispatcher(self.broker),
            lease_seconds=self.settings.lease_seconds,
        )


def build_runtime(
    settings: Settings | None = None,
    worker_settings: WorkerSettings | None = None,
    agency_settings: AgencySettings | None = None,
    broker: dramatiq.Broker | None = None,
    agencies: Agencies | None = None,
) -> Runtime:
    """Wire a runtime; anything not given is read from the environment."""
    from agencies.config import AgencySettings, build_agencies
    from checks.api import CheckService
    from checks.group_commit import writer_for
    from checks.runner import CheckRunner
    from workers.broker import setup_broker
    from workers.dispatch import BrokerDispatcher
    from workers.settings import WorkerSettings

    settings = settings or Settings.from_env()
    worker_settings = worker_settings or WorkerSettings.from_env()
    store = Store(settings)
    agencies = agencies or build_agencies(agency_settings or AgencySettings.from_env())
    if agencies.sandbox is None:  # live agencies: real people's data, real signatures
        settings.validate_live(using_development_key=store.cipher.using_development_key)
    store.migrate()
    broker = broker or setup_broker(worker_settings)
    writer = writer_for(settings, store.engine)
    if writer is not None:
        # Writes already queued are made before the process exits.
        atexit.register(writer.close)
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
            writer=writer,
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


def get_reader() -> CheckReader:
    """Read-only access to checks: the process's runtime if built, else only the store.

    Commands that only read (``checkctl show``) start faster this way: no broker, no agencies.
    """
    with _lock:
        if _runtime is not None:
            return _runtime.service
    store = Store(Settings.from_env())
    store.migrate()
    return CheckReader(store)


def set_runtime(runtime: Runtime | None) -> None:
    """Install a runtime (tests), or forget it so the next use rebuilds from the environment."""
    global _runtime
    with _lock:
        _runtime = runtime
