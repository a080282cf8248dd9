"""``/v1`` routes for retention holds and data-subject rights: find, export, erase.

Compliance only. The routes call :class:`~checks.subjects.SubjectService` and
:class:`~checks.subjects.RetentionService` as ``checkctl subject`` / ``retention`` do, with the
token's name as the actor. A person is looked up with a POST body, never a query string, so no
personal data reaches a URL or an access log; everything after that is by subject id.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from checks.access import Action
from checks.errors import InvalidRequest, Problem
from checks.tokens import Principal
from web.problems import ApiProblem
from web.security import require

router = APIRouter(prefix="/v1", tags=["retention and subjects"])

Exporter = Annotated[Principal, Depends(require(Action.SUBJECT_EXPORT))]
Eraser = Annotated[Principal, Depends(require(Action.SUBJECT_ERASE))]
Holder = Annotated[Principal, Depends(require(Action.RETENTION_HOLD))]


class HoldRequest(BaseModel):
    """Why a legal hold is placed (a case reference; no personal data)."""

    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, Field(min_length=1, max_length=1000)]


def store_services(request: Request) -> Any:
    """The runtime's retention and subject services (the API's and the console's)."""
    return request.app.state.runtime.store_services


def export_download(document: dict[str, Any], subject_id: str) -> Response:
    """The subject access export as a JSON file to download (the API's and the console's)."""
    return Response(
        json.dumps(document, indent=2, default=str),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="subject-{subject_id}.json"',
            "Cache-Control": "no-store",
        },
    )


def refusal_extensions(exc: Any) -> dict[str, Any]:
    """Why an erasure was refused, per record kept, and the latest date retention ends.

    ``retention_ends`` is null when a record has no end yet (a legal hold, a check in progress).
    """
    kept = exc.outcome.retained
    records = [
        {
            "id": record_id,
            "reason": r.reason.value,
            "retention_ends": r.keep_through.isoformat() if r.keep_through else None,
        }
        for record_id, r in sorted(kept.items())
    ]
    ends = [r.keep_through for r in kept.values()]
    open_ended = any(e is None for e in ends)
    latest = None if open_ended or not ends else max(e for e in ends if e is not None)
    reasons = sorted({r.reason.value for r in kept.values()})
    return {
        "reason": reasons[0] if len(reasons) == 1 else reasons,
        "retention_ends": latest.isoformat() if latest else None,
        "retained": records,
        "erased": {"checks": exc.outcome.erased_checks, "subject": exc.outcome.subject_erased},
    }


@contextmanager
def subject_errors(subject_id: str) -> Iterator[None]:
    """The subject services' refusals as problem details."""
    from checks.subjects import SubjectErasureRefused, SubjectNotFound

    try:
        yield
    except SubjectNotFound:
        raise ApiProblem(404, "subject_not_found", f"no subject {subject_id}") from None
    except SubjectErasureRefused as exc:
        raise ApiProblem(
            409, "erasure_refused", str(exc), extensions=refusal_extensions(exc)
        ) from None


@router.post("/subjects/search")
def find_subjects(
    request: Request,
    principal: Exporter,
    person: Annotated[dict[str, Any], Body(description="The same fields as `applicant`.")],
) -> dict[str, list[str]]:
    """The subject ids for a person (a subject access request starts here)."""
    try:
        ids = store_services(request).subjects.find(person)
    except InvalidRequest as exc:
        raise ApiProblem(
            422, "invalid_request", f"{len(exc.problems)} invalid field(s)", errors=exc.problems
        ) from None
    return {"subject_ids": ids}


@router.get(
    "/subjects/{subject_id}/export",
    responses={200: {"description": "the subject access export, as a JSON attachment"}},
)
def export_subject(subject_id: str, request: Request, principal: Exporter) -> Response:
    """Everything held about the subject, decrypted, as one JSON document to download."""
    with subject_errors(subject_id):
        document = store_services(request).subjects.export(subject_id, actor=principal.name)
    return export_download(document, subject_id)


@router.post(
    "/subjects/{subject_id}/erase",
    responses={409: {"description": "refused: the reason and the date retention ends"}},
)
def erase_subject(subject_id: str, request: Request, principal: Eraser) -> dict[str, Any]:
    """Erase what no retention or hold keeps; 409 naming the reason and the end date if any is."""
    with subject_errors(subject_id):
        outcome = store_services(request).subjects.erase(subject_id, actor=principal.name)
    return {
        "subject_id": subject_id,
        "erased": {"checks": outcome.erased_checks, "subject": outcome.subject_erased},
    }


@router.put("/subjects/{subject_id}/hold")
def hold(subject_id: str, body: HoldRequest, request: Request, principal: Holder) -> dict[str, Any]:
    """Place a legal hold: nothing of the subject's is purged or erased until it is released."""
    if not body.reason.strip():
        raise ApiProblem(
            422,
            "invalid_request",
            "1 invalid field(s)",
            errors=[Problem("reason", "must not be blank")],
        )
    with subject_errors(subject_id):
        changed = store_services(request).retention.hold(
            subject_id, body.reason.strip(), actor=principal.name
        )
    return {"subject_id": subject_id, "legal_hold": True, "changed": changed}


@router.delete("/subjects/{subject_id}/hold")
def release(subject_id: str, request: Request, principal: Holder) -> dict[str, Any]:
    """Lift the subject's legal hold."""
    with subject_errors(subject_id):
        changed = store_services(request).retention.release(subject_id, actor=principal.name)
    return {"subject_id": subject_id, "legal_hold": False, "changed": changed}
