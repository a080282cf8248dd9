"""Health, readiness and metrics: for the load balancer and Prometheus, without a token.

They reveal counts and states only, no check ids or personal data; put them behind the
gateway's own access rules if counts are sensitive.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from workers.queues import broker_reachable

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up and serving."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """503 unless both the database and the broker answer now."""
    rt: Any = request.app.state.runtime
    checks: dict[str, str] = {}
    try:
        with rt.store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:  # unreachable for any reason: not ready
        checks["database"] = "unreachable"
    checks["broker"] = "ok" if broker_reachable(rt.broker) else "unreachable"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", **checks}, status_code=200 if ready else 503
    )


@router.get("/metrics")
def metrics(request: Request) -> Response:
    """Prometheus text format."""
    return Response(
        generate_latest(request.app.state.metrics_registry), media_type=CONTENT_TYPE_LATEST
    )
