"""The HTTP API on PostgreSQL and Redis with a separate `checkctl worker`: submit, wait, metrics."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from checks.access import Role
from checks.tokens import TokenService
from tests.helpers import request_for
from tests.integration.conftest import WorkerFactory
from web import create_app
from web.settings import WebSettings
from workers.runtime import Runtime

pytestmark = pytest.mark.integration


def test_checks_submitted_over_http_are_decided_by_a_separate_worker(
    pg_url: str, redis_runtime: Runtime, worker_process: WorkerFactory
) -> None:
    # Given the API on PostgreSQL and Redis (no in-process worker) and a worker process
    worker_process(pg_url)
    token = TokenService(redis_runtime.store).create("orders", Role.SUBMITTER, actor="test")
    headers = {"Authorization": f"Bearer {token.token}"}
    app = create_app(redis_runtime, WebSettings(), run_worker=False)
    with TestClient(app) as client:
        assert client.get("/readyz").json() == {
            "status": "ready",
            "database": "ok",
            "broker": "ok",
        }
        # When two checks are submitted and waited for over HTTP
        ids = {
            p: client.post("/v1/checks", json=request_for(p), headers=headers).json()["id"]
            for p in ("alice", "carol")
        }
        views = {
            p: client.get(f"/v1/checks/{cid}?wait=60", headers=headers).json()
            for p, cid in ids.items()
        }
        metrics = client.get("/metrics").text
    # Then the worker decided them, and the metrics (from the database) show it
    assert {p: v["decision"] for p, v in views.items()} == {"alice": "accept", "carol": "decline"}
    assert 'checks_decisions_total{decision="accept",purpose="new_order"} 1.0' in metrics
    assert (
        'checks_agency_call_seconds_bucket{agency="cifas",le="+Inf",outcome="completed"} 2.0'
        in (metrics)
    )
    assert 'checks_queue_depth{queue="checks"} 0.0' in metrics
