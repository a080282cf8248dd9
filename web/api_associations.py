"""``/v1`` routes for financial associations: list a subject's, link two subjects, break one.

Operators only (``associations.manage``). The routes call
:class:`~checks.association_service.AssociationService` as the CLI does, so both record the
same things; the token's name is the actor in the audit trail. Subjects are named by their ids
(opaque), never by personal data.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from checks.access import Action
from checks.association_service import AssociationService
from checks.associations import (
    AlreadyBroken,
    AssociationNotFound,
    AssociationSource,
    RequestedBy,
    SameSubject,
)
from checks.errors import Problem
from checks.tokens import Principal
from web.problems import ApiProblem
from web.security import require

router = APIRouter(prefix="/v1", tags=["associations"])

Operator = Annotated[Principal, Depends(require(Action.ASSOCIATIONS))]
Note = Annotated[str, Field(min_length=1, max_length=10_000, description="Stored encrypted.")]


class LinkRequest(BaseModel):
    """An association a person declared or an operator established."""

    model_config = ConfigDict(extra="forbid")

    subject_id: str
    associate_subject_id: str
    source: Literal["declared", "operator"]
    note: Note


class BreakRequest(BaseModel):
    """A disassociation: who asked for it, and why."""

    model_config = ConfigDict(extra="forbid")

    requested_by: Literal["subject", "operator"]
    note: Note


def associations(request: Request) -> AssociationService:
    """The app's associations service (built once, on the app's runtime)."""
    service: AssociationService | None = getattr(request.app.state, "associations", None)
    if service is None:
        from workers.associations import association_service

        service = association_service(request.app.state.runtime)
        request.app.state.associations = service
    return service


@contextmanager
def association_errors() -> Iterator[None]:
    """The service's refusals as problem details."""
    try:
        yield
    except AssociationNotFound as exc:
        raise ApiProblem(404, "not_found", str(exc)) from None
    except AlreadyBroken as exc:
        raise ApiProblem(409, "already_broken", str(exc)) from None
    except SameSubject as exc:
        raise ApiProblem(
            422,
            "invalid_request",
            "1 invalid field(s)",
            errors=[Problem("associate_subject_id", str(exc))],
        ) from None


@router.get("/subjects/{subject_id}/associations")
def list_associations(
    subject_id: str, request: Request, principal: Operator
) -> list[dict[str, Any]]:
    """The subject's associations, active and broken, each with its CRA notices."""
    with association_errors():
        return associations(request).associations_of(subject_id)


@router.get("/associations/{association_id}")
def show_association(association_id: int, request: Request, principal: Operator) -> dict[str, Any]:
    """One association with its evidence and notices."""
    with association_errors():
        return associations(request).get(association_id)


@router.post("/associations", status_code=201)
def link(body: LinkRequest, request: Request, principal: Operator) -> dict[str, Any]:
    """Record an association between two subjects."""
    with association_errors():
        return associations(request).link(
            body.subject_id,
            body.associate_subject_id,
            AssociationSource(body.source),
            body.note.strip(),
            actor=principal.name,
        )


@router.post("/associations/{association_id}/break", status_code=202)
def break_association(
    association_id: int, body: BreakRequest, request: Request, principal: Operator
) -> dict[str, Any]:
    """Record a disassociation (no longer used from now) and queue a notice to each CRA."""
    with association_errors():
        return associations(request).break_association(
            association_id, RequestedBy(body.requested_by), body.note.strip(), actor=principal.name
        )
