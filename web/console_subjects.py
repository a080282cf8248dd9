"""Console pages for compliance: find a subject, download their export, erase, legal holds.

A person is found by posting their details (a form body, never a URL); from then on pages and
forms name only the subject id. Every action calls :mod:`checks.subjects`' services as the
signed-in token's name, and every form is a POST carrying its CSRF token.
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from checks.access import Action
from checks.errors import InvalidRequest
from checks.tokens import Principal
from web.api_subjects import export_download, store_services, subject_errors
from web.console import CsrfField, _form_gate, _gate, _page
from web.problems import ApiProblem

router = APIRouter(prefix="/console", include_in_schema=False)


def _subject_page(
    request: Request,
    who: Principal,
    subject_id: str,
    status_code: int = 200,
    **context: object,
) -> HTMLResponse:
    return _page(
        request, "subject.html", who, status_code=status_code, subject_id=subject_id, **context
    )


def _problem_page(request: Request, who: Principal, subject_id: str, exc: ApiProblem) -> Response:
    return _subject_page(
        request,
        who,
        subject_id,
        status_code=exc.status,
        refusal=exc.detail,
        retention_ends=exc.extensions.get("retention_ends"),
    )


@router.get("/subjects", response_class=HTMLResponse, response_model=None)
def subjects(request: Request) -> Response:
    """The subject access form: paste the person's details to find their subject ids."""
    who = _gate(request, Action.SUBJECT_EXPORT)
    if isinstance(who, Response):
        return who
    return _page(request, "subjects.html", who, found=None, problems=[])


@router.post("/subjects/search", response_class=HTMLResponse, response_model=None)
def search(
    request: Request, csrf: CsrfField = None, person: Annotated[str, Form()] = ""
) -> Response:
    """Find the subject ids for the posted person (the fields of a request's ``applicant``)."""
    who = _form_gate(request, Action.SUBJECT_EXPORT, csrf)
    if isinstance(who, Response):
        return who
    try:
        found = store_services(request).subjects.find(json.loads(person or "null"))
    except json.JSONDecodeError:
        problems = ["person: not valid JSON"]
        return _page(request, "subjects.html", who, status_code=422, found=None, problems=problems)
    except InvalidRequest as exc:
        problems = [f"{p.field}: {p.message}" for p in exc.problems]
        return _page(request, "subjects.html", who, status_code=422, found=None, problems=problems)
    return _page(request, "subjects.html", who, found=found, problems=[])


@router.get("/subjects/{subject_id}", response_class=HTMLResponse, response_model=None)
def subject_page(request: Request, subject_id: str) -> Response:
    """One subject: download the export, erase, place or lift a legal hold."""
    who = _gate(request, Action.SUBJECT_EXPORT)
    if isinstance(who, Response):
        return who
    return _subject_page(request, who, subject_id)


@router.post("/subjects/{subject_id}/export", response_model=None)
def export(request: Request, subject_id: str, csrf: CsrfField = None) -> Response:
    """The subject access export as a JSON file to download."""
    who = _form_gate(request, Action.SUBJECT_EXPORT, csrf)
    if isinstance(who, Response):
        return who
    try:
        with subject_errors(subject_id):
            document = store_services(request).subjects.export(subject_id, actor=who.name)
    except ApiProblem as exc:
        return _problem_page(request, who, subject_id, exc)
    return export_download(document, subject_id)


@router.post("/subjects/{subject_id}/erase", response_class=HTMLResponse, response_model=None)
def erase(request: Request, subject_id: str, csrf: CsrfField = None) -> Response:
    """Erase what may be erased; a refusal names the reason and the date retention ends."""
    who = _form_gate(request, Action.SUBJECT_ERASE, csrf)
    if isinstance(who, Response):
        return who
    try:
        with subject_errors(subject_id):
            outcome = store_services(request).subjects.erase(subject_id, actor=who.name)
    except ApiProblem as exc:
        return _problem_page(request, who, subject_id, exc)
    done = f"Erased the subject and {len(outcome.erased_checks)} check(s)."
    return _subject_page(request, who, subject_id, done=done)


@router.post("/subjects/{subject_id}/hold", response_class=HTMLResponse, response_model=None)
def hold(
    request: Request,
    subject_id: str,
    csrf: CsrfField = None,
    reason: Annotated[str, Form()] = "",
    release: Annotated[str, Form()] = "",
) -> Response:
    """Place (with a reason) or lift (``release``) the subject's legal hold."""
    who = _form_gate(request, Action.RETENTION_HOLD, csrf)
    if isinstance(who, Response):
        return who
    if not release and not reason.strip():
        problem = ApiProblem(422, "invalid_request", "reason: must not be blank")
        return _problem_page(request, who, subject_id, problem)
    service = store_services(request).retention
    try:
        with subject_errors(subject_id):
            if release:
                service.release(subject_id, actor=who.name)
            else:
                service.hold(subject_id, reason.strip(), actor=who.name)
    except ApiProblem as exc:
        return _problem_page(request, who, subject_id, exc)
    done = "Legal hold released." if release else "Legal hold placed."
    return _subject_page(request, who, subject_id, done=done)
