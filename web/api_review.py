"""``/v1`` routes for people in the loop: the review queue, contests, decisions, fraud cases.

Thin like :mod:`web.api`: each route authorises the caller, calls
:class:`~checks.review_service.ReviewService` or :class:`~checks.review_service.FraudService`
(``runtime.reviews`` / ``runtime.fraud``) and shapes the answer. The person a service records
(reviewer, proposer, confirmer) is always the token's name, never a name from the body, so the
two-person rule for fraud filing holds between tokens and the audit trail names who acted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from checks.access import Action, allowed, can_read
from checks.errors import CheckNotFound, InvalidRequest, Problem
from checks.review import ReviewConflict, ReviewRefused
from checks.tokens import Principal
from web.problems import ApiProblem
from web.security import bearer_principal, require

if TYPE_CHECKING:
    from checks.fraud_store import CaseState

router = APIRouter(prefix="/v1", tags=["review and fraud"])
T = TypeVar("T")

#: Refusals that mean "no such thing" rather than "not in this state".
_NOT_FOUND_CODES = frozenset({"not_found"})


class ContestRequest(BaseModel):
    """The applicant's view of an automated decision (personal data: stored encrypted)."""

    model_config = ConfigDict(extra="forbid")

    representations: str


class DecideRequest(BaseModel):
    """A reviewer's decision on the check as they saw it (``version`` from its view)."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["accept", "refer", "decline"]
    note: str
    version: int = Field(ge=0, description="The check's `version` when the reviewer read it.")


class ProposeRequest(BaseModel):
    """A proposed Cifas case on a check."""

    model_config = ConfigDict(extra="forbid")

    case_type: str = Field(description="Identity Fraud, ..., or its slug (identity_fraud)")
    evidence: str


def field_name(option: str) -> str:
    """A service problem's field as the API calls it: ``--case-type`` -> ``case_type``."""
    return option.lstrip("-").replace("-", "_")


@contextmanager
def service_errors() -> Iterator[None]:
    """Turn the review services' errors into problem details (404, 409, 422)."""
    try:
        yield
    except InvalidRequest as exc:
        problems = [Problem(field_name(p.field), p.message) for p in exc.problems]
        raise ApiProblem(
            422, "invalid_request", f"{len(problems)} invalid field(s)", errors=problems
        ) from None
    except CheckNotFound as exc:
        raise ApiProblem(404, "not_found", f"no check {exc}") from None
    except ReviewConflict as exc:
        raise ApiProblem(409, exc.code, str(exc)) from None
    except ReviewRefused as exc:
        status = 404 if exc.code in _NOT_FOUND_CODES else 409
        raise ApiProblem(status, exc.code, str(exc)) from None


def _call(fn: Callable[[], T]) -> T:
    with service_errors():
        return fn()


def _runtime(request: Request) -> Any:
    return request.app.state.runtime


def may_see_queue(principal: Principal) -> bool:
    """The queue is for reviewers (referrals, contests) and compliance (fraud proposals)."""
    return allowed(principal.role, Action.REVIEW) or allowed(principal.role, Action.FRAUD_CONFIRM)


def _case(call: Callable[[], CaseState]) -> dict[str, Any]:
    """A fraud service call's case as the API answers it, domain errors as problems."""
    case: dict[str, Any] = _call(call).as_dict()
    return case


def _fraud_party(principal: Principal, doing: str) -> None:
    """Cases are for who may propose (reviewers) or confirm (compliance) them: else a 403."""
    if not (
        allowed(principal.role, Action.FRAUD_PROPOSE)
        or allowed(principal.role, Action.FRAUD_CONFIRM)
    ):
        raise ApiProblem(403, "forbidden", f"the {principal.role.value} role may not {doing}")


@router.get("/reviews")
def review_queue(
    request: Request,
    principal: Annotated[Principal, Depends(bearer_principal)],
    status: Literal["open", "closed", "all"] = "open",
) -> list[dict[str, Any]]:
    """Referrals, contested decisions and proposed fraud filings, most urgent first."""
    if not may_see_queue(principal):
        raise ApiProblem(403, "forbidden", f"the {principal.role.value} role may not see reviews")
    rows: list[dict[str, Any]] = _call(lambda: _runtime(request).reviews.queue(status))
    return rows


@router.post("/checks/{check_id}/review", status_code=201)
def contest(
    check_id: str,
    body: ContestRequest,
    request: Request,
    principal: Annotated[Principal, Depends(bearer_principal)],
) -> dict[str, Any]:
    """The applicant contests an automated decision (Art 22) and gives their view.

    A reviewer may record it for any check; a submitter (the order flow that speaks for the
    applicant) for the checks it submitted.
    """
    rt = _runtime(request)
    if not allowed(principal.role, Action.REVIEW):
        if not allowed(principal.role, Action.READ_OWN):
            raise ApiProblem(403, "forbidden", f"the {principal.role.value} role may not contest")
        owner = _call(lambda: rt.service.get(check_id))["requested_by"]
        if not can_read(principal.role, principal.name, owner):
            raise ApiProblem(404, "not_found", f"no check {check_id}")
    answer: dict[str, Any] = _call(
        lambda: rt.reviews.request(check_id, body.representations, principal.name)
    )
    return answer


@router.post(
    "/checks/{check_id}/decision",
    responses={409: {"description": "the check changed since the reviewer read it"}},
)
def decide(
    check_id: str,
    body: DecideRequest,
    request: Request,
    principal: Annotated[Principal, Depends(require(Action.REVIEW))],
) -> dict[str, Any]:
    """The token's person replaces the decision; 409 if the check changed since ``version``."""
    answer: dict[str, Any] = _call(
        lambda: _runtime(request).reviews.decide(
            check_id, body.decision, principal.name, body.note, expected_version=body.version
        )
    )
    return answer


@router.post("/checks/{check_id}/fraud-cases", status_code=201)
def propose_fraud(
    check_id: str,
    body: ProposeRequest,
    request: Request,
    principal: Annotated[Principal, Depends(require(Action.FRAUD_PROPOSE))],
) -> dict[str, Any]:
    """Propose a Cifas case; a second, different person (token) must confirm it."""
    return _case(
        lambda: _runtime(request).fraud.propose(
            check_id, body.case_type, body.evidence, principal.name
        )
    )


@router.get("/fraud-cases/{case_id}")
def show_fraud_case(
    case_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(bearer_principal)],
) -> dict[str, Any]:
    """A case and its filing: Cifas's reference, or why it was rejected."""
    _fraud_party(principal, "see cases")
    return _case(lambda: _runtime(request).fraud.case(case_id))


@router.post("/fraud-cases/{case_id}/confirm")
def confirm_fraud(
    case_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(require(Action.FRAUD_CONFIRM))],
) -> dict[str, Any]:
    """Confirm a proposed case (not by its proposer): decline, flag, file to Cifas."""
    return _case(lambda: _runtime(request).fraud.confirm(case_id, principal.name))


@router.post("/fraud-cases/{case_id}/withdraw")
def withdraw_fraud(
    case_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(bearer_principal)],
) -> dict[str, Any]:
    """Withdraw a proposal before it is confirmed (a reviewer or compliance)."""
    _fraud_party(principal, "withdraw")
    return _case(lambda: _runtime(request).fraud.withdraw(case_id, principal.name))
