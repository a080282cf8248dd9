"""Console pages for people in the loop: the review queue, decisions, contests, fraud cases.

Same pattern as :mod:`web.console`: each form is a POST carrying its CSRF token, URLs carry
only check and case ids, and every action calls ``runtime.reviews`` / ``runtime.fraud`` as the
signed-in token's name (the audit trail's actor). A decide form carries the check's ``version``
the reviewer saw, so a decision on a state someone else has since changed is refused (409).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from checks.access import Action
from checks.errors import CheckError
from checks.tokens import Principal
from web.api_review import may_see_queue, service_errors
from web.console import CsrfField, _gate, _not_allowed, _page, _refused_form
from web.problems import ApiProblem
from web.security import csrf_valid

if TYPE_CHECKING:
    from workers.runtime import Runtime

router = APIRouter(prefix="/console", include_in_schema=False)

#: At most this many open items get a decide form with their check's version on one page.
QUEUE_PAGE = 100

Text = Annotated[str, Form()]


def _back_to(check_id: str) -> RedirectResponse:
    return RedirectResponse(f"/console/checks/{check_id}", status_code=303)


def _act(request: Request, who: Principal, csrf: str | None, action: Callable[[], str]) -> Response:
    """Check the form's CSRF token, run ``action`` (it returns the check id to show)."""
    if not csrf_valid(request, csrf):
        return _refused_form(request)
    try:
        with service_errors():
            check_id = action()
    except ApiProblem as exc:
        return _page(
            request,
            "error.html",
            who,
            status_code=exc.status,
            title="Not done",
            message="; ".join([exc.detail] + [f"{e.field}: {e.message}" for e in exc.errors]),
        )
    return _back_to(check_id)


def _on_check(
    request: Request,
    csrf: str | None,
    check_id: str,
    may: Action,
    action: Callable[[Runtime, Principal], object],
) -> Response:
    """A form on a check for who ``may``: ``action(runtime, who)``, then back to the check."""
    who = _gate(request, may)
    if isinstance(who, Response):
        return who
    runtime = request.app.state.runtime

    def run() -> str:
        action(runtime, who)
        return check_id

    return _act(request, who, csrf, run)


def _decide_form(rt: Any, item: dict[str, Any]) -> dict[str, Any]:
    """A queue row with what its decide form needs (the check's version and purpose)."""
    if item["kind"] == "fraud_proposal" or item["status"] != "open":
        return item
    try:
        view = rt.service.get(item["check_id"])
    except CheckError:  # purged or removed since the queue was read: no form
        return item
    return {**item, "version": view["version"], "current": view["decision"]}


@router.get("/reviews", response_class=HTMLResponse, response_model=None)
def review_queue(request: Request, status: str = "open") -> Response:
    """Referrals and contests with decide forms; fraud proposals with confirm / withdraw."""
    who = _gate(request, Action.READ_ANY)
    if isinstance(who, Response):
        return who
    if not may_see_queue(who):
        return _not_allowed(request, who, "open the review queue")
    if status not in ("open", "closed", "all"):
        status = "open"
    rt = request.app.state.runtime
    items = rt.reviews.queue(status)[:QUEUE_PAGE]
    reviews = [_decide_form(rt, i) for i in items if i["kind"] != "fraud_proposal"]
    cases = [i for i in items if i["kind"] == "fraud_proposal"]
    return _page(request, "reviews.html", who, reviews=reviews, cases=cases, status=status)


@router.post("/checks/{check_id}/decision", response_model=None)
def decide(
    request: Request,
    check_id: str,
    csrf: CsrfField = None,
    decision: Text = "",
    note: Text = "",
    version: Annotated[int, Form()] = -1,
) -> Response:
    """Record the signed-in reviewer's decision on the version they saw."""
    return _on_check(
        request,
        csrf,
        check_id,
        Action.REVIEW,
        lambda rt, who: rt.reviews.decide(
            check_id, decision, who.name, note, expected_version=version
        ),
    )


@router.post("/checks/{check_id}/review", response_model=None)
def contest(
    request: Request, check_id: str, csrf: CsrfField = None, representations: Text = ""
) -> Response:
    """Record an applicant's contest of the automated decision (a reviewer takes it down)."""
    return _on_check(
        request,
        csrf,
        check_id,
        Action.REVIEW,
        lambda rt, who: rt.reviews.request(check_id, representations, who.name),
    )


@router.post("/checks/{check_id}/fraud-cases", response_model=None)
def propose(
    request: Request,
    check_id: str,
    csrf: CsrfField = None,
    case_type: Text = "",
    evidence: Text = "",
) -> Response:
    """Propose a Cifas case on the check; a second person confirms it."""
    return _on_check(
        request,
        csrf,
        check_id,
        Action.FRAUD_PROPOSE,
        lambda rt, who: rt.fraud.propose(check_id, case_type, evidence, who.name),
    )


@router.post("/fraud-cases/{case_id}/confirm", response_model=None)
def confirm(request: Request, case_id: str, csrf: CsrfField = None) -> Response:
    """Confirm a proposed case (compliance, not the proposer): decline, flag, file."""
    who = _gate(request, Action.FRAUD_CONFIRM)
    if isinstance(who, Response):
        return who
    fraud = request.app.state.runtime.fraud
    return _act(request, who, csrf, lambda: str(fraud.confirm(case_id, who.name).check_id))


@router.post("/fraud-cases/{case_id}/withdraw", response_model=None)
def withdraw(request: Request, case_id: str, csrf: CsrfField = None) -> Response:
    """Withdraw a proposal before it is confirmed (a reviewer or compliance)."""
    who = _gate(request, Action.READ_ANY)
    if isinstance(who, Response):
        return who
    if not may_see_queue(who):
        return _not_allowed(request, who, "withdraw a fraud case")
    fraud = request.app.state.runtime.fraud
    return _act(request, who, csrf, lambda: str(fraud.withdraw(case_id, who.name).check_id))
