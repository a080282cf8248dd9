"""``/v1``: the JSON API. Routes are thin: parse, authorise, call the service, shape the answer.

Blocking service calls run in the server's thread pool (plain ``def`` routes); the long-poll is
``async`` and checks the status from the thread pool between sleeps, so a waiting caller holds
no thread and never blocks the event loop. The next round's routers (review, fraud, subjects,
associations) follow the same pattern: one module each, included by :func:`web.app.create_app`.
"""

from __future__ import annotations

import functools
import json
import time
from datetime import datetime
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import BaseModel, ConfigDict

from checks.access import Action, allowed, can_read
from checks.api import CheckService
from checks.errors import (
    CheckNotFound,
    IdempotencyConflict,
    InvalidRequest,
    NotRerunnable,
    Problem,
)
from checks.statements import TERMINAL
from checks.tokens import Principal
from web.problems import ApiProblem
from web.security import bearer_principal, require

router = APIRouter(prefix="/v1", tags=["checks"])

CheckStatus = Literal["queued", "running", "decided", "failed"]


class Submitted(BaseModel):
    """The answer to a submission: the check's id (the same id for the same key)."""

    id: str


class Rerun(BaseModel):
    """A rerun: the agencies that will be searched again (completed steps are reused)."""

    id: str
    searched_again: list[str]


class BulkRerunRequest(BaseModel):
    """Which failed checks to rerun: those involving ``agency`` and newer than ``since``."""

    model_config = ConfigDict(extra="forbid")

    agency: str | None = None
    since: str | None = None
    dry_run: bool = False


def _service(request: Request) -> CheckService:
    service: CheckService = request.app.state.runtime.service
    return service


def _since(text: str | None, field: str) -> datetime | None:
    if not text:
        return None
    import typer

    from checks.models import utcnow
    from workers.cli import parse_duration

    try:
        return utcnow() - parse_duration(text)
    except typer.BadParameter:
        raise ApiProblem(
            422,
            "invalid_request",
            "the request has invalid fields",
            errors=[Problem(field, "not a duration like 30m, 6h, 2d or 1w")],
        ) from None


#: A check request is a few kilobytes; anything far larger is refused before it is parsed.
MAX_BODY_BYTES = 256 * 1024


async def _capped_body(request: Request) -> bytes:
    """The request body, refused with 413 once it passes :data:`MAX_BODY_BYTES`."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise ApiProblem(413, "too_large", f"the body is over {MAX_BODY_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise ApiProblem(413, "too_large", f"the body is over {MAX_BODY_BYTES} bytes")
    return bytes(body)


def _view_for(service: CheckService, principal: Principal, check_id: str) -> dict[str, Any]:
    try:
        view = service.get(check_id)
    except CheckNotFound:
        raise ApiProblem(404, "not_found", f"no check {check_id}") from None
    # Another caller's check is reported as missing, so ids cannot be probed for existence.
    if not can_read(principal.role, principal.name, view["requested_by"]):
        raise ApiProblem(404, "not_found", f"no check {check_id}")
    return view


@router.post(
    "/checks",
    status_code=202,
    response_model=Submitted,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/CheckRequest"}}
            },
        }
    },
    responses={
        409: {"description": "idempotency key used for a different request"},
        422: {"description": "invalid request: every offending field is listed"},
    },
)
async def submit_check(
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(require(Action.SUBMIT))],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Submitted:
    """Validate and queue a check. ``Idempotency-Key`` (or the body's key): same key, same id.

    The check is recorded as requested by the token's name, which the audit trail names too.
    """
    raw = await _capped_body(request)
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = (
            f"line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        )
        raise ApiProblem(
            422,
            "invalid_request",
            "the body is not JSON",
            errors=[Problem("$", f"not valid JSON {where}".strip())],
        ) from None
    if isinstance(data, dict) and idempotency_key is not None:
        body_key = data.get("idempotency_key")
        if body_key is None:
            data["idempotency_key"] = idempotency_key
        elif body_key != idempotency_key:
            raise ApiProblem(
                422,
                "invalid_request",
                "the request has invalid fields",
                errors=[Problem("idempotency_key", "differs from the Idempotency-Key header")],
            )
    if isinstance(data, dict):
        # Ownership must not rest on what the caller says: a submitter reads its own checks,
        # so the check is recorded as requested by the token's name.
        data["requested_by"] = principal.name
    service = _service(request)
    try:
        sub = await anyio.to_thread.run_sync(
            functools.partial(service.submit, data, actor=principal.name)
        )
    except InvalidRequest as exc:
        raise ApiProblem(
            422, "invalid_request", f"{len(exc.problems)} invalid field(s)", errors=exc.problems
        ) from None
    except IdempotencyConflict:
        raise ApiProblem(
            409,
            "idempotency_conflict",
            "this idempotency key was already used for a different request",
        ) from None
    response.headers["Location"] = f"/v1/checks/{sub.check_id}"
    return Submitted(id=sub.check_id)


@router.get("/checks/{check_id}")
async def get_check(
    check_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(bearer_principal)],
    wait: Annotated[
        float | None, Query(ge=0, description="Seconds to wait for an outcome.")
    ] = None,
) -> dict[str, Any]:
    """The check as ``checkctl show --json`` prints it; ``?wait=30`` waits up to 30 s to end."""
    service = _service(request)
    if not (allowed(principal.role, Action.READ_ANY) or allowed(principal.role, Action.READ_OWN)):
        raise ApiProblem(403, "forbidden", f"the {principal.role.value} role may not read checks")
    view = await anyio.to_thread.run_sync(_view_for, service, principal, check_id)
    if wait:
        limit = min(wait, request.app.state.web_settings.max_wait_seconds)
        deadline = time.monotonic() + limit
        pause = 0.05
        while view["status"] not in TERMINAL and time.monotonic() < deadline:
            await anyio.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 1.5, 0.5)
            if await anyio.to_thread.run_sync(service.status, check_id) in TERMINAL:
                view = await anyio.to_thread.run_sync(service.get, check_id)
    return view


@router.get("/checks")
def list_checks(
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(bearer_principal)],
    status: CheckStatus | None = None,
    agency: str | None = None,
    since: Annotated[str | None, Query(description="Newer than e.g. 30m, 6h, 2d")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Checks, newest first, a page at a time (``next`` is the following page, or null).

    An operator (and reviewer, compliance) sees every check; a submitter only its own.
    """
    if allowed(principal.role, Action.LIST):
        owner = None
    elif allowed(principal.role, Action.READ_OWN):
        owner = principal.name
    else:
        raise ApiProblem(403, "forbidden", f"the {principal.role.value} role may not list checks")
    after = _since(since, "since")
    # One more than the page tells whether there is a next page without counting every row.
    rows = _service(request).list_checks(
        status=status,
        agency=agency,
        since=after,
        limit=limit + 1,
        offset=offset,
        requested_by=owner,
    )
    next_url = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_url = str(request.url.include_query_params(offset=offset + limit, limit=limit))
        response.headers["Link"] = f'<{next_url}>; rel="next"'
    return {"items": rows, "limit": limit, "offset": offset, "next": next_url}


@router.post("/checks/{check_id}/rerun", status_code=202, response_model=Rerun)
def rerun_check(
    check_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(require(Action.RERUN))],
) -> Rerun:
    """Rerun a failed check: only what has not completed is searched again."""
    try:
        again = _service(request).rerun(check_id, actor=principal.name)
    except CheckNotFound:
        raise ApiProblem(404, "not_found", f"no check {check_id}") from None
    except NotRerunnable as exc:
        raise ApiProblem(409, "not_rerunnable", str(exc)) from None
    return Rerun(id=check_id, searched_again=again)


@router.post("/reruns")
def bulk_rerun(
    body: BulkRerunRequest,
    request: Request,
    principal: Annotated[Principal, Depends(require(Action.RERUN))],
) -> dict[str, Any]:
    """Rerun every failed check involving ``agency`` newer than ``since``; ``dry_run`` previews."""
    service = _service(request)
    ids = service.rerunnable(body.agency, _since(body.since, "since"))
    if body.dry_run:
        return {"dry_run": True, "would_rerun": ids}
    results: dict[str, Any] = {}
    for cid in ids:
        try:
            results[cid] = {"searched_again": service.rerun(cid, actor=principal.name)}
        except (CheckNotFound, NotRerunnable) as exc:  # changed since it was listed
            results[cid] = {"error": str(exc)}
    return {"dry_run": False, "reran": results}
