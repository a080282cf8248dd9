"""``checkctl associations``: list, link and break financial associations.

Every command takes ``--json``. Exit status: 0 success, 2 invalid input (naming the argument
or option, never echoing personal data), 1 any other failure or refusal (``{"error": CODE,
"message": TEXT}`` with ``--json``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from workers.cli_options import JsonOpt

if TYPE_CHECKING:
    from checks.association_service import AssociationService

NoteOpt = Annotated[str, typer.Option(help="Why (stored encrypted; never empty).")]

associations_app = typer.Typer(
    help="Financial associations: list, link, break (notices to each CRA).",
    no_args_is_help=True,
)


def _print(data: Any, as_json: bool) -> None:
    from rich.table import Table

    from workers.cli import _print_json, out

    if as_json:
        _print_json(data)
        return
    rows = data if isinstance(data, list) else [data]
    t = Table()
    for col in ("id", "associate", "source", "status", "linked at", "evidence", "notices"):
        t.add_column(col, overflow="fold")
    for a in rows:
        t.add_row(
            str(a["id"]),
            a["associate_subject_id"],
            a["source"],
            a["status"],
            (a["linked_at"] or "")[:19],
            ", ".join(e["source"] for e in a["evidence"]),
            ", ".join(f"{n['agency']}: {n['status']}" for n in a["notices"]) or "-",
        )
    out.print(t)


def _answer(as_json: bool, call: Callable[[AssociationService], Any]) -> None:
    """Print what ``call(service)`` answers; an unknown subject or association is refused."""
    from checks.associations import AssociationNotFound
    from workers.associations import association_service
    from workers.cli import _refuse, _runtime

    try:
        answer = call(association_service(_runtime()))
    except AssociationNotFound as exc:
        _refuse("not_found", str(exc), as_json)
    _print(answer, as_json)


@associations_app.command("list")
def list_associations(
    subject_id: Annotated[str, typer.Argument(help="The subject whose associations to list.")],
    as_json: JsonOpt = False,
) -> None:
    """The subject's financial associations, active and broken, with each CRA notice."""
    _answer(as_json, lambda service: service.associations_of(subject_id))


@associations_app.command("link")
def link(
    subject_a: Annotated[str, typer.Argument(help="One subject id.")],
    subject_b: Annotated[str, typer.Argument(help="The other subject id.")],
    source: Annotated[str, typer.Option(help="declared (the person told us) or operator.")],
    note: NoteOpt,
    as_json: JsonOpt = False,
) -> None:
    """Record an association a person declared or an operator established."""
    from checks.associations import MANUAL_SOURCES, AssociationSource
    from checks.errors import Problem
    from workers.cli import _invalid

    problems = []
    if source not in MANUAL_SOURCES:
        problems.append(Problem("--source", "must be declared or operator"))
    if subject_a == subject_b:
        problems.append(Problem("SUBJECT_B", "must be a different person from SUBJECT_A"))
    if not note.strip():
        problems.append(Problem("--note", "must not be empty"))
    if problems:
        _invalid(problems, as_json)
    how = AssociationSource(source)
    _answer(as_json, lambda service: service.link(subject_a, subject_b, how, note.strip()))


@associations_app.command("break")
def break_association(
    association_id: Annotated[str, typer.Argument(help="The association to break.")],
    requested_by: Annotated[str, typer.Option(help="subject (the person asked) or operator.")],
    note: NoteOpt,
    timeout: Annotated[
        float, typer.Option(help="In-process broker: seconds to wait for the CRAs' answers.")
    ] = 60.0,
    as_json: JsonOpt = False,
) -> None:
    """Record a disassociation and queue a notice of disassociation to each CRA."""
    from checks.associations import AlreadyBroken, AssociationNotFound, RequestedBy
    from checks.errors import Problem
    from workers.associations import association_service
    from workers.cli import _invalid, _refuse, _runtime, in_process_worker

    problems = []
    if not association_id.isdigit():
        problems.append(Problem("ASSOCIATION_ID", "must be a whole number"))
    if requested_by not in ("subject", "operator"):
        problems.append(Problem("--requested-by", "must be subject or operator"))
    if not note.strip():
        problems.append(Problem("--note", "must not be empty"))
    if problems:
        _invalid(problems, as_json)
    rt = _runtime()
    service = association_service(rt)
    with in_process_worker(rt):
        try:
            view = service.break_association(
                int(association_id), RequestedBy(requested_by), note.strip()
            )
        except AssociationNotFound as exc:
            _refuse("not_found", str(exc), as_json)
        except AlreadyBroken as exc:
            _refuse("already_broken", str(exc), as_json)
        if rt.worker_settings.is_stub:
            # No separate worker: send the notices here, as submit --wait runs checks.
            view = _wait_for_answers(service, int(association_id), timeout)
    _print(view, as_json)


def _wait_for_answers(service: Any, association_id: int, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        view: dict[str, Any] = service.get(association_id)
        answered = all(n["status"] in ("accepted", "refused") for n in view["notices"])
        if answered or time.monotonic() >= deadline:
            return view
        time.sleep(0.05)
