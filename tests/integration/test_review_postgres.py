"""Review and fraud filing on PostgreSQL and Redis with real ``checkctl worker`` processes.

Two reviewers deciding at once on PostgreSQL: one wins. A worker SIGKILLed while it holds a
confirmed case's filing (before Cifas saw it): the redelivered job files it, and the sandbox,
served over real HTTP from this process, logs exactly one filing.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from agencies.config import AgencySettings, build_sandbox
from agencies.registry import adapter_classes
from agencies.sandbox_server import SandboxServer
from checks.review import ReviewRefused
from tests.helpers import request_for
from tests.integration.conftest import WorkerFactory, terminal_view, wait_for
from workers.runtime import Runtime

pytestmark = pytest.mark.integration


@pytest.fixture
def sandbox_server() -> Iterator[SandboxServer]:
    """The agencies over real HTTP on loopback; its call log is readable from this process."""
    server = SandboxServer(build_sandbox(AgencySettings()), "127.0.0.1", 0).start()
    yield server
    server.stop()


def _live_env(server: SandboxServer) -> dict[str, str]:
    env = {"CHECKS_AGENCY_MODE": "live"}
    for name, cls in adapter_classes().items():
        env[f"CHECKS_{name.upper()}_BASE_URL"] = server.base_url(name)
        for cred in cls.credential_names:
            env[f"CHECKS_{name.upper()}_{cred.upper()}"] = "sandbox"
    return env


def test_two_reviewers_deciding_at_once_on_postgresql_one_wins(redis_runtime: Runtime) -> None:
    rt = redis_runtime
    check_id = rt.service.submit(request_for("carol")).check_id
    # Decide it here, without a worker: the runner is the same code a worker runs.
    asyncio.run(rt.runner.run(check_id))
    rt.reviews.request(check_id, "I have paid the judgments")
    start = threading.Barrier(6)
    outcomes: list[str] = []

    def decide(i: int) -> None:
        start.wait()
        try:
            rt.reviews.decide(check_id, ("accept", "decline")[i % 2], f"reviewer-{i}", "seen")
            outcomes.append("won")
        except ReviewRefused as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=decide, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("won") == 1, outcomes
    assert set(outcomes) - {"won"} <= {"conflict", "already_reviewed"}, outcomes
    view = rt.service.get(check_id)
    assert [e["action"] for e in view["timeline"]].count("review_decided") == 1
    assert view["automated"] is False and view["version"] == 2  # the request, one decision


def test_a_worker_killed_between_confirmation_and_filing_files_once(
    pg_url: str,
    redis_runtime: Runtime,
    worker_process: WorkerFactory,
    sandbox_server: SandboxServer,
) -> None:
    rt = redis_runtime
    env: dict[str, Any] = {
        **_live_env(sandbox_server),
        "CHECKS_LEASE_SECONDS": "3",
        "CHECKS_REDIS_HEARTBEAT_MS": "2000",
        "CHECKS_REDIS_MAINTENANCE_CHANCE": "1000000",
    }
    first = worker_process(pg_url, name="doomed", **env)
    check_id = rt.service.submit(request_for("alice")).check_id
    wait_for(
        "alice's check", terminal_view(rt, check_id), timeout=90, diagnostics=first.diagnostics
    )
    case_id = rt.fraud.propose(check_id, "identity_fraud", "forged passport", "Pat").case_id
    # Cifas is slow to answer: the worker takes the filing and is killed before Cifas has it
    sandbox_server.sandbox.set_latency("cifas=30000")
    rt.fraud.confirm(case_id, "Quinn")
    wait_for(
        "the doomed worker to take the filing",
        lambda: rt.fraud.case(case_id).filing_attempts == 1,
        timeout=90,
        interval=0.05,
        diagnostics=first.diagnostics,
    )
    first.kill()
    sandbox_server.sandbox.set_latency(None)
    assert rt.fraud.case(case_id).filing_status == "pending"
    assert sandbox_server.sandbox.calls_to("cifas", "file") == []
    # A fresh worker gets the unacked job back from Redis and files the case
    second = worker_process(pg_url, name="rescuer", **env)
    filed = wait_for(
        "the case to be filed",
        lambda: (c := rt.fraud.case(case_id)).filing_status == "filed" and c,
        timeout=90,
        interval=0.2,
        diagnostics=lambda: first.diagnostics() + second.diagnostics(),
    )
    assert filed.cifas_reference
    (call,) = sandbox_server.sandbox.calls_to("cifas", "file")
    assert call.status == 201
    view = rt.service.get(check_id)
    assert view["decision"] == "decline" and view["flagged"] is True
    assert view["flagged_at"] == filed.confirmed_at.isoformat()
