"""``checkctl review`` and ``checkctl fraud``: people in the loop.

``review`` lists what waits for a person, records an applicant's contest and a reviewer's new
decision; ``fraud`` proposes a Cifas case, has a second person confirm (or withdraw) it, and
shows its filing. The work is in :mod:`checks.review_service`; this module only parses options,
prints, and maps refusals to exit 1 (``{"error": CODE, "message": TEXT}`` with ``--json``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from workers.cli_options import JsonOpt

if TYPE_CHECKING:
    from checks.fraud_store import CaseState

T = TypeVar("T")

review_app = typer.Typer(
    help="Human review of automated decisions: the queue, contests, reviewers' decisions.",
    no_args_is_help=True,
)
fraud_app = typer.Typer(
    help="Cifas fraud filings: proposed by one person, confirmed by another, then filed.",
    no_args_is_help=True,
)

CaseArg = Annotated[str, typer.Argument(help="The fraud case's id.")]

# Required options default to None and are checked by the service, so a missing one is
# reported (exit 2, naming the option) like any other invalid value.


def _guarded(fn: Callable[[], T], as_json: bool) -> T:
    """Run a service call, turning domain errors into the CLI's exit statuses."""
    from checks.errors import CheckError, CheckNotFound, InvalidRequest
    from checks.review import ReviewRefused
    from workers.cli import _invalid, _refuse

    try:
        return fn()
    except InvalidRequest as exc:
        _invalid(exc.problems, as_json)
    except CheckNotFound as exc:
        _refuse("not_found", f"no check {exc}", as_json)
    except ReviewRefused as exc:
        _refuse(exc.code, str(exc), as_json)
    except CheckError as exc:
        _refuse("failed", str(exc), as_json)


def _drain_notifications(rt: Any, timeout_s: float) -> None:
    """With the stub broker, deliver the queued notification before the process exits."""
    if not rt.worker_settings.is_stub:
        return
    from dramatiq.brokers.stub import StubBroker
    from dramatiq.errors import QueueJoinTimeout

    from workers.broker import HOUSEKEEPING_QUEUE

    if isinstance(rt.broker, StubBroker):
        try:
            rt.broker.join(HOUSEKEEPING_QUEUE, timeout=int(timeout_s * 1000), fail_fast=False)
        except QueueJoinTimeout:  # the notification keeps its own retries; the decision stands
            from workers.cli import err

            err.print("notification still being retried", highlight=False)


def _in_process(
    call: Callable[[Any], T],
    timeout_s: float,
    as_json: bool,
    settle: Callable[[Any, T, float], T] | None = None,
) -> T:
    """Make a service call that queues work (a notification, a filing) on the runtime.

    With the stub broker no separate worker exists: the queued work runs here, and the command
    waits up to ``timeout_s`` for it (``settle`` waits for the call's own outcome first).
    """
    from workers.cli import _runtime, in_process_worker

    rt = _runtime()
    with in_process_worker(rt):
        result = _guarded(lambda: call(rt), as_json)
        deadline = time.monotonic() + timeout_s
        if settle is not None and rt.worker_settings.is_stub:
            result = settle(rt, result, deadline)
        _drain_notifications(rt, max(0.0, deadline - time.monotonic()))
    return result


def _await_filing(rt: Any, state: CaseState, deadline: float) -> CaseState:
    """File here, retries included, until Cifas has answered (or the deadline passes)."""
    while state.filing_status in ("pending", "retrying") and time.monotonic() < deadline:
        time.sleep(0.1)
        state = rt.fraud.case(state.case_id)
    return state


# -- review ----------------------------------------------------------------------------------


@review_app.command("list")
def review_list(
    status: Annotated[str, typer.Option(help="open, closed or all")] = "open",
    as_json: JsonOpt = False,
) -> None:
    """Referrals, contested decisions and proposed fraud filings, most urgent first."""
    from rich.table import Table

    from workers.cli import _print_json, _runtime, out

    rt = _runtime()
    rows = _guarded(lambda: rt.reviews.queue(status), as_json)
    if as_json:
        _print_json(rows)
        return
    t = Table(title=f"review queue ({status})", title_justify="left")
    for col in ("check", "kind", "status", "due", "age", "case"):
        # Ids are what an operator copies into the next command: never cut them short.
        t.add_column(col, overflow="fold")
    for r in rows:
        due = r["due_at"][:16] + (" [red]overdue[/]" if r["overdue"] else "")
        hours = r["age_seconds"] // 3600
        t.add_row(r["check_id"], r["kind"], r["status"], due, f"{hours}h", r["case_id"] or "")
    out.print(t)


@review_app.command("request")
def review_request(
    check_id: Annotated[str, typer.Argument(help="The check whose decision is contested.")],
    representations: Annotated[
        str | None, typer.Option(help="The applicant's view (personal data: stored encrypted).")
    ] = None,
    by: Annotated[str, typer.Option(help="Who records it (audited).")] = "applicant",
    as_json: JsonOpt = False,
) -> None:
    """The applicant contests an automated decision and gives their view (Art 22)."""
    from workers.cli import _print_json, _runtime, out

    rt = _runtime()
    data = _guarded(lambda: rt.reviews.request(check_id, representations or "", by), as_json)
    if as_json:
        _print_json(data)
    else:
        out.print(f"review opened for {check_id}, due {data['due_at']}", highlight=False)


@review_app.command("decide")
def review_decide(
    check_id: Annotated[str, typer.Argument(help="The check under review.")],
    decision: Annotated[str | None, typer.Option(help="accept, refer or decline")] = None,
    reviewer: Annotated[str | None, typer.Option(help="The reviewer's name (audited).")] = None,
    note: Annotated[str | None, typer.Option(help="Why (stored encrypted).")] = None,
    timeout: Annotated[float, typer.Option(help="In-process: seconds to deliver.")] = 30.0,
    as_json: JsonOpt = False,
) -> None:
    """A named person replaces the automated decision; the first stays in the timeline."""
    from workers.cli import _print_json, out

    data = _in_process(
        lambda rt: rt.reviews.decide(check_id, decision or "", reviewer or "", note or ""),
        timeout,
        as_json,
    )
    if as_json:
        _print_json(data)
    else:
        out.print(f"{check_id}: {data['decision']} (decided by {reviewer})", highlight=False)


# -- fraud -----------------------------------------------------------------------------------


def _print_case(case: dict[str, Any], as_json: bool) -> None:
    from workers.cli import _print_json, out

    if as_json:
        _print_json(case)
        return
    out.print(
        f"case {case['case_id']}  {case['case_type']}  {case['status']}  check {case['check_id']}",
        highlight=False,
    )
    filing = case.get("filing")
    if filing:
        ref = filing["cifas_reference"] or "-"
        line = f"filing {filing['status']} (attempts {filing['attempts']}, Cifas ref {ref})"
        if filing["error"]:
            line += f": {filing['error']}"
        out.print(line, highlight=False, markup=False)


@fraud_app.command("propose")
def fraud_propose(
    check_id: Annotated[str, typer.Argument(help="The check the case concerns.")],
    case_type: Annotated[
        str | None,
        typer.Option(
            help="Identity Fraud, Facility Takeover, False Application, "
            "Misuse of Facility or Asset Conversion (or identity_fraud...)"
        ),
    ] = None,
    evidence: Annotated[str | None, typer.Option(help="Evidence (stored encrypted).")] = None,
    by: Annotated[str | None, typer.Option(help="Who proposes it (audited).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Propose a Cifas case; a second, different person must confirm it."""
    from workers.cli import _runtime

    rt = _runtime()
    state = _guarded(
        lambda: rt.fraud.propose(check_id, case_type or "", evidence or "", by or ""), as_json
    )
    _print_case(state.as_dict(), as_json)


@fraud_app.command("confirm")
def fraud_confirm(
    case_id: CaseArg,
    by: Annotated[str | None, typer.Option(help="Who confirms (not the proposer).")] = None,
    timeout: Annotated[float, typer.Option(help="In-process: seconds to wait for filing.")] = 60.0,
    as_json: JsonOpt = False,
) -> None:
    """Confirm a proposed case: the check is declined, the subject flagged, the case filed."""
    state = _in_process(
        lambda rt: rt.fraud.confirm(case_id, by or ""), timeout, as_json, settle=_await_filing
    )
    _print_case(state.as_dict(), as_json)


@fraud_app.command("withdraw")
def fraud_withdraw(
    case_id: CaseArg,
    by: Annotated[str | None, typer.Option(help="Who withdraws it (audited).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Withdraw a proposal before it is confirmed."""
    from workers.cli import _runtime

    rt = _runtime()
    state = _guarded(lambda: rt.fraud.withdraw(case_id, by or ""), as_json)
    _print_case(state.as_dict(), as_json)


@fraud_app.command("show")
def fraud_show(
    case_id: CaseArg,
    as_json: JsonOpt = False,
) -> None:
    """A case and its filing: Cifas's reference, or the reason it was rejected."""
    from workers.cli import _runtime

    rt = _runtime()
    state = _guarded(lambda: rt.fraud.case(case_id), as_json)
    _print_case(state.as_dict(), as_json)
