"""A pytest plugin for any test suite that installs this package: checks on the sandbox.

Registered through the ``pytest11`` entry point, so installing the package is enough. It gives:

``checks_sandbox``
    the agencies' sandbox for this test: ``set_faults("experian=http503")``,
    ``set_latency("cifas=50")``, ``calls_to(agency, "search")``, ``footprints(agency)``.
``checks_service``
    a :class:`~checks.api.CheckService` on a fresh SQLite file, with an in-process worker.
``run_check``
    ``run_check(request_dict, timeout=30) -> dict``: submit, wait, return the ``show`` view.
``persona_request``
    ``persona_request("alice", **overrides) -> dict``: a valid request for a sandbox persona.
``assert_one_search``
    ``assert_one_search("experian")``: the agency saw exactly one distinct search.

Markers: ``@pytest.mark.agency_faults("experian=http503;cifas=timeout")`` and
``@pytest.mark.agency_latency("experian=300")`` set the sandbox before the test runs.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from agencies.sandbox import Sandbox
    from checks.api import CheckService
    from workers.runtime import Runtime


def _stub_broker() -> Any:
    """The broker the actors are declared on, which must be the in-process StubBroker.

    Only a test that uses these fixtures gets here: merely installing the package changes
    nothing in another suite's environment.
    """
    import importlib
    import sys

    from dramatiq.brokers.stub import StubBroker

    if "workers.actors" not in sys.modules:
        # The actors read CHECKS_BROKER_URL once, when first imported: make that the stub,
        # then put the environment back as it was.
        before = os.environ.get("CHECKS_BROKER_URL")
        os.environ["CHECKS_BROKER_URL"] = "stub://"
        try:
            importlib.import_module("workers.actors")
        finally:
            if before is None:
                del os.environ["CHECKS_BROKER_URL"]
            else:
                os.environ["CHECKS_BROKER_URL"] = before
    broker = sys.modules["workers.actors"].broker
    if not isinstance(broker, StubBroker):
        raise pytest.UsageError(
            "the checks sandbox fixtures run checks in process, but workers.actors was already "
            "imported with a real broker (CHECKS_BROKER_URL); import it after these fixtures"
        )
    return broker


#: Quick retries in milliseconds so injected faults do not slow the suite down.
_FAST = {
    "backoff_initial": 0.001,
    "backoff_max": 0.01,
    "max_retry_after": 0.0,
    "breaker_reset": 0.05,
}


def pytest_configure(config: pytest.Config) -> None:
    """Declare the plugin's markers."""
    config.addinivalue_line(
        "markers", "agency_faults(spec): sandbox faults, e.g. 'experian=http503;cifas=timeout'"
    )
    config.addinivalue_line(
        "markers", "agency_latency(spec): sandbox latency in ms, e.g. '300' or 'experian=300'"
    )


@pytest.fixture
def checks_runtime(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Runtime]:
    """A runtime on a fresh SQLite file with a fresh sandbox and an in-process worker."""
    import dramatiq

    from agencies.config import AgencySettings, build_agencies
    from agencies.registry import adapter_paths
    from agencies.sandbox import parse_faults, parse_latency
    from checks.config import Settings
    from workers.runtime import build_runtime, set_runtime

    broker = _stub_broker()

    faults = request.node.get_closest_marker("agency_faults")
    latency = request.node.get_closest_marker("agency_latency")
    agencies = build_agencies(
        AgencySettings(
            policy_overrides={name: _FAST for name in adapter_paths()},
            faults=parse_faults(faults.args[0] if faults else None),
            latency_ms=parse_latency(latency.args[0] if latency else None),
        )
    )
    db: Path = tmp_path_factory.mktemp("checks") / "checks.db"
    rt = build_runtime(
        settings=Settings(database_url=f"sqlite:///{db}"), agencies=agencies, broker=broker
    )
    set_runtime(rt)
    broker.flush_all()
    worker = dramatiq.Worker(broker, worker_threads=4, worker_timeout=20)
    worker.start()
    try:
        yield rt
    finally:
        worker.stop()
        broker.middleware[:] = [
            m for m in broker.middleware if getattr(m, "worker", None) is not worker
        ]
        broker.flush_all()
        set_runtime(None)
        rt.store.dispose()


@pytest.fixture
def checks_sandbox(checks_runtime: Runtime) -> Sandbox:
    """The sandbox answering for every agency in this test."""
    assert checks_runtime.agencies.sandbox is not None
    return checks_runtime.agencies.sandbox


@pytest.fixture
def checks_service(checks_runtime: Runtime) -> CheckService:
    """The check service (submit, get, wait, rerun) for this test."""
    return checks_runtime.service


@pytest.fixture
def run_check(checks_runtime: Runtime) -> Callable[..., dict[str, Any]]:
    """Submit a request and wait for its outcome; returns what ``checkctl show --json`` prints."""

    def run(request: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        submitted = checks_runtime.service.submit(request)
        return checks_runtime.service.wait(submitted.check_id, timeout=timeout)

    return run


@pytest.fixture
def persona_request() -> Callable[..., dict[str, Any]]:
    """Build a valid request for a sandbox persona (fresh idempotency key unless given)."""
    from checks.samples import persona_request as build

    def make(key: str, idempotency_key: str | None = None, **overrides: Any) -> dict[str, Any]:
        return build(key, idempotency_key or f"TEST-{key}-{uuid.uuid4().hex[:12]}", **overrides)

    return make


@pytest.fixture
def assert_one_search(checks_sandbox: Sandbox) -> Callable[[str], None]:
    """Assert an agency recorded exactly one distinct search (retries reuse the reference)."""

    def check(agency: str) -> None:
        refs = checks_sandbox.footprints(agency)
        assert len(refs) == 1, f"{agency} recorded {len(refs)} distinct searches: {sorted(refs)}"

    return check
