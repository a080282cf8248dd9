"""The ASGI application: routers, problem-details errors, request ids and JSON access logs."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from checks.access import RateLimiter
from checks.errors import Problem
from checks.request import CheckRequest
from web.metrics import HttpMetrics, build_registry
from web.problems import PROBLEM_JSON, ApiProblem, problem_body, problem_response
from web.security import Signer
from web.settings import WebSettings

log = structlog.get_logger("web")

#: A caller's own request id is kept if it is this plain (it goes into logs verbatim).
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestContext:
    """Gives each request an id (``X-Request-ID``), logs it as one JSON event, counts it.

    A plain ASGI middleware rather than Starlette's ``BaseHTTPMiddleware``: no extra task per
    request, and the id is bound to structlog's context vars for every log line of the request.
    The log names the route template (``/v1/checks/{check_id}``), never query strings, so no
    personal data or secrets reach the log.
    """

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            seconds = time.perf_counter() - started
            self.metrics.observe(scope["method"], template, status, seconds)
            log.info(
                "http.request",
                method=scope["method"],
                route=template,
                status=status,
                ms=round(seconds * 1000, 1),
            )
            structlog.contextvars.unbind_contextvars("request_id")


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema plus the check request's, which the submit route reads by hand."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
    request_schema = CheckRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(request_schema.pop("$defs", {}))
    components["CheckRequest"] = request_schema
    schema["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    schema["security"] = [{"bearer": []}]
    app.openapi_schema = schema
    return schema


def create_app(
    runtime: Any | None = None,
    settings: WebSettings | None = None,
    *,
    run_worker: bool | None = None,
) -> FastAPI:
    """The API and console on ``runtime`` (default: the process's, from the environment).

    ``run_worker`` (default: when the broker is the embedded stub) runs a Dramatiq worker in
    this process while the app is served, so checks are worked on with no separate worker.
    """
    if runtime is None:
        import workers.actors  # noqa: F401  (declares the actors the in-process worker runs)
        from workers.runtime import get_runtime

        runtime = get_runtime()
    settings = settings or WebSettings.from_env()
    with_worker = runtime.worker_settings.is_stub if run_worker is None else run_worker

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if not with_worker:
            yield
            return
        from workers.cli import in_process_worker

        with in_process_worker(runtime):
            yield

    app = FastAPI(
        title="checks-worker API",
        version="1",
        description="Credit and fraud checks: submit, read, list and rerun (see SPEC.md).",
        lifespan=lifespan,
        # The interactive pages load their scripts from a CDN; the schema alone is served.
        docs_url=None,
        redoc_url=None,
    )
    registry, http_metrics = build_registry(runtime)
    key = settings.session_key.encode() or runtime.store.cipher.derived_key(b"console-session")
    app.state.runtime = runtime
    app.state.web_settings = settings
    app.state.tokens = runtime.store_services.tokens
    app.state.rate_limiter = RateLimiter(settings.rate_per_second, settings.rate_burst)
    app.state.signer = Signer(key)
    app.state.metrics_registry = registry

    @app.exception_handler(ApiProblem)
    async def _problem(request: Request, exc: ApiProblem) -> JSONResponse:
        return problem_response(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            Problem(".".join(str(p) for p in e["loc"]), str(e["msg"])) for e in exc.errors()
        ]
        return problem_response(
            ApiProblem(
                422, "invalid_request", f"{len(problems)} invalid field(s)", errors=problems
            ),
            request.url.path,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            problem_body(exc.status_code, "http_error", str(exc.detail), instance=request.url.path),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
            media_type=PROBLEM_JSON,
        )

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, exc: ClientDisconnect) -> Response:
        # The caller hung up before sending its whole body: nothing was done, nobody to answer.
        log.info("http.client_disconnected")
        return Response(status_code=400)

    @app.exception_handler(OperationalError)
    async def _database_down(request: Request, exc: OperationalError) -> JSONResponse:
        # The database is unreachable or out of connections: a temporary state, worth a retry.
        log.error("http.database_unavailable")
        return problem_response(
            ApiProblem(
                503,
                "unavailable",
                "the database is not reachable; try again shortly",
                headers={"Retry-After": "5"},
            ),
            request.url.path,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The exception's type only: its text or traceback could carry request data.
        log.error("http.unhandled", error=type(exc).__name__)
        return JSONResponse(
            problem_body(500, "internal_error", "the server could not complete the request"),
            status_code=500,
            media_type=PROBLEM_JSON,
        )

    from web import (
        api,
        api_associations,
        api_review,
        api_subjects,
        console,
        console_review,
        console_subjects,
        ops,
    )

    app.include_router(api.router)
    app.include_router(api_review.router)
    app.include_router(api_associations.router)
    app.include_router(api_subjects.router)
    app.include_router(ops.router)
    app.include_router(console.router)
    app.include_router(console_review.router)
    app.include_router(console_subjects.router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    app.add_middleware(RequestContext, metrics=http_metrics)
    return app
