"""``/console/``: the operations console, server-rendered (Jinja2), no JavaScript required.

A browser signs in once with an API token (see :mod:`web.security` for the session and CSRF
scheme). Pages take only check ids in their URLs, never personal data. Each page is one route
and one template extending ``base.html``; the next round's pages (review queue, fraud, subject)
are added the same way and linked from the navigation when the role allows them.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from checks.access import Action, allowed
from checks.errors import CheckError, CheckNotFound
from checks.models import utcnow
from checks.reporting import Reporting
from checks.tokens import Principal
from web.metrics import breaker_open
from web.security import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    Signer,
    csrf_valid,
    new_nonce,
    session_principal,
)
from workers.queues import queue_depths

router = APIRouter(prefix="/console", include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))

CsrfField = Annotated[str | None, Form(alias="csrf")]


def _cookie_flags(request: Request) -> dict[str, Any]:
    # Secure whenever the browser came over HTTPS (behind a gateway: run uvicorn with
    # --proxy-headers so the scheme is the client's).
    return {
        "httponly": True,
        "samesite": "strict",
        "secure": request.url.scheme == "https",
        "path": "/console",
    }


def _page(
    request: Request,
    template: str,
    who: Principal | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render a page with the CSRF token for its forms (setting the browser's nonce if new)."""
    nonce = request.cookies.get(CSRF_COOKIE) or new_nonce()
    signer: Signer = request.app.state.signer
    response = templates.TemplateResponse(
        request,
        template,
        {
            "who": who,
            "csrf": signer.csrf_token(nonce),
            "can_rerun": who is not None and allowed(who.role, Action.RERUN),
            "can_dashboard": who is not None and allowed(who.role, Action.DASHBOARD),
            "can_review": who is not None and allowed(who.role, Action.REVIEW),
            "can_propose": who is not None and allowed(who.role, Action.FRAUD_PROPOSE),
            "can_confirm": who is not None and allowed(who.role, Action.FRAUD_CONFIRM),
            "can_subjects": who is not None and allowed(who.role, Action.SUBJECT_EXPORT),
            **context,
        },
        status_code=status_code,
    )
    if request.cookies.get(CSRF_COOKIE) != nonce:
        response.set_cookie(CSRF_COOKIE, nonce, **_cookie_flags(request))
    response.headers["Cache-Control"] = "no-store"
    return response


def _gate(request: Request, action: Action) -> Principal | Response:
    """The signed-in user if allowed ``action``; else the sign-in redirect or a 403 page."""
    who = session_principal(request)
    if who is None:
        return RedirectResponse("/console/login", status_code=303)
    if not allowed(who.role, action):
        return _not_allowed(request, who, "open this page")
    return who


def _form_gate(request: Request, action: Action, csrf: str | None) -> Principal | Response:
    """As :func:`_gate`, for a form: its CSRF token must be valid too."""
    who = _gate(request, action)
    if isinstance(who, Response) or csrf_valid(request, csrf):
        return who
    return _refused_form(request)


def _not_allowed(request: Request, who: Principal, doing: str) -> Response:
    """The 403 page: the signed-in role cannot do ``doing``."""
    return _page(
        request,
        "error.html",
        who,
        status_code=403,
        title="Not allowed",
        message=f"The {who.role.value} role cannot {doing}.",
    )


def _refused_form(request: Request) -> HTMLResponse:
    return _page(
        request,
        "error.html",
        session_principal(request),
        status_code=403,
        title="Form refused",
        message="The form's CSRF token is missing or wrong. Reload the page and try again.",
    )


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    """The sign-in form."""
    return _page(request, "login.html", None, error=None)


@router.post("/login", response_model=None)
def login(request: Request, token: Annotated[str, Form()] = "", csrf: CsrfField = None) -> Response:
    """Sign in with an API token; the browser keeps a signed session cookie, not the token."""
    if not csrf_valid(request, csrf):
        return _refused_form(request)
    who = request.app.state.tokens.authenticate(token.strip()) if token.strip() else None
    if who is None:
        return _page(request, "login.html", None, status_code=401, error="That token is not valid.")
    request.app.state.tokens.record(who, "console_sign_in")
    settings = request.app.state.web_settings
    target = "/console/" if allowed(who.role, Action.DASHBOARD) else "/console/checks"
    response = RedirectResponse(target, status_code=303)
    signer: Signer = request.app.state.signer
    response.set_cookie(
        SESSION_COOKIE,
        signer.session_value(who.token_id, settings.session_seconds),
        max_age=settings.session_seconds,
        **_cookie_flags(request),
    )
    return response


@router.post("/logout", response_model=None)
def logout(request: Request, csrf: CsrfField = None) -> Response:
    """Sign out: the session cookie is dropped."""
    if not csrf_valid(request, csrf):
        return _refused_form(request)
    who = session_principal(request)
    if who is not None:
        request.app.state.tokens.record(who, "console_sign_out")
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/console")
    return response


@router.get("/", response_class=HTMLResponse, response_model=None)
def dashboard(request: Request) -> Response:
    """Checks by status in the last day, agency health and breakers, queue depth."""
    who = _gate(request, Action.DASHBOARD)
    if isinstance(who, Response):
        return who
    rt = request.app.state.runtime
    reporting = Reporting(rt.store)
    now = utcnow()
    health = {h.agency: h for h in reporting.agency_health(now - timedelta(hours=1))}
    agencies = [
        {
            "name": name,
            "completed": health[name].completed if name in health else 0,
            "failed": health[name].failed if name in health else 0,
            "last_error": health[name].last_error if name in health else None,
            "breaker_open": breaker_open(rt, name),
        }
        for name in sorted(rt.agencies.names())
    ]
    try:
        queues: dict[str, int] | None = queue_depths(rt.broker)
    except Exception:  # shown as unknown; /readyz reports the broker
        queues = None
    return _page(
        request,
        "dashboard.html",
        who,
        counts=reporting.counts_by_status(now - timedelta(days=1)),
        agencies=agencies,
        queues=queues,
    )


@router.get("/checks", response_class=HTMLResponse, response_model=None)
def checks_page(request: Request, status: str = "failed", offset: int = 0) -> Response:
    """Checks by status (failed by default), with rerun buttons for operators."""
    who = _gate(request, Action.LIST)
    if isinstance(who, Response):
        return who
    if status not in ("queued", "running", "decided", "failed"):
        status = "failed"
    page = 50
    rows = request.app.state.runtime.service.list_checks(
        status=status, limit=page + 1, offset=max(0, offset)
    )
    return _page(
        request,
        "checks.html",
        who,
        rows=rows[:page],
        status=status,
        offset=max(0, offset),
        next_offset=offset + page if len(rows) > page else None,
    )


@router.get("/checks/{check_id}", response_class=HTMLResponse, response_model=None)
def check_page(request: Request, check_id: str) -> Response:
    """One check: status, decision, reasons, steps, footprint ledger, timeline."""
    who = _gate(request, Action.READ_ANY)
    if isinstance(who, Response):
        return who
    try:
        view = request.app.state.runtime.service.get(check_id)
    except CheckNotFound:
        return _page(
            request,
            "error.html",
            who,
            status_code=404,
            title="Not found",
            message="There is no check with that id.",
        )
    return _page(request, "check.html", who, check=view)


@router.post("/checks/{check_id}/rerun", response_model=None)
def rerun_one(request: Request, check_id: str, csrf: CsrfField = None) -> Response:
    """Rerun one failed check, then show it."""
    who = _form_gate(request, Action.RERUN, csrf)
    if isinstance(who, Response):
        return who
    try:
        request.app.state.runtime.service.rerun(check_id, actor=who.name)
    except CheckError as exc:
        return _page(
            request, "error.html", who, status_code=409, title="Not rerun", message=str(exc)
        )
    return RedirectResponse(f"/console/checks/{check_id}", status_code=303)


@router.post("/reruns/preview", response_class=HTMLResponse, response_model=None)
def rerun_preview(
    request: Request,
    csrf: CsrfField = None,
    agency: Annotated[str, Form()] = "",
    since: Annotated[str, Form()] = "",
) -> Response:
    """What a bulk rerun would do: the failed checks it would rerun, to confirm."""
    who = _form_gate(request, Action.RERUN, csrf)
    if isinstance(who, Response):
        return who
    from web.api import _since
    from web.problems import ApiProblem

    try:
        after = _since(since.strip() or None, "since")
    except ApiProblem:
        return _page(
            request,
            "error.html",
            who,
            status_code=422,
            title="Invalid filter",
            message="'since' must be a duration like 30m, 6h, 2d or 1w.",
        )
    ids = request.app.state.runtime.service.rerunnable(agency.strip() or None, after)
    return _page(request, "rerun_preview.html", who, ids=ids, agency=agency, since=since)


@router.post("/reruns", response_class=HTMLResponse, response_model=None)
async def rerun_bulk(request: Request) -> Response:
    """Rerun the checks confirmed on the preview page (only those still failed)."""
    import anyio

    form = await request.form()
    who = await anyio.to_thread.run_sync(_gate, request, Action.RERUN)
    if isinstance(who, Response):
        return who
    if not csrf_valid(request, str(form.get("csrf") or "")):
        return _refused_form(request)
    ids = [str(v) for v in form.getlist("check_id")]
    service = request.app.state.runtime.service

    def run() -> dict[str, str]:
        results: dict[str, str] = {}
        for cid in ids:
            try:
                again = service.rerun(cid, actor=who.name)
                results[cid] = "searching again: " + (", ".join(again) or "nothing")
            except CheckError as exc:
                results[cid] = f"not rerun: {exc}"
        return results

    results = await anyio.to_thread.run_sync(run)
    return _page(request, "rerun_done.html", who, results=results)
