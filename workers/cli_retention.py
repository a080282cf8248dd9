"""``checkctl retention``, ``subject`` and ``audit``: retention and data-subject rights.

Thin commands over :mod:`checks.subjects` (the service the HTTP API calls too). Exit status: 0
success, 2 invalid input (naming the field or option), 1 a refusal or any other failure; with
``--json`` a refusal prints ``{"error": CODE, "message": TEXT}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from workers.cli_options import JsonOpt

T = TypeVar("T")

SubjectArg = Annotated[str, typer.Argument(help="The subject's id (see `checkctl subject find`).")]

retention_app = typer.Typer(
    help="Retention: purge what has expired; legal holds.", no_args_is_help=True
)
subject_app = typer.Typer(
    help="Data-subject rights: find, access export, erasure.", no_args_is_help=True
)
audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)


def _for_subject(subject_id: str, as_json: bool, call: Callable[[Any], T]) -> T:
    """Call the store services about one subject; a subject that does not exist is refused."""
    from checks.subjects import SubjectNotFound
    from workers.cli import _refuse, _runtime

    try:
        return call(_runtime().store_services)
    except SubjectNotFound:
        _refuse("subject_not_found", f"no subject {subject_id}", as_json)


def _set_hold(subject_id: str, reason: str | None, as_json: bool) -> None:
    """Place a legal hold (with its reason) or release it (``None``), and say which."""
    from workers.cli import _print_json, out

    changed = _for_subject(
        subject_id,
        as_json,
        lambda services: (
            services.retention.release(subject_id)
            if reason is None
            else services.retention.hold(subject_id, reason)
        ),
    )
    held = reason is not None
    if as_json:
        _print_json({"subject_id": subject_id, "legal_hold": held, "changed": changed})
    else:
        done = "placed on" if held else "released on"
        out.print(f"legal hold {done} subject {subject_id}", highlight=False)


# -- retention --------------------------------------------------------------------------------


@retention_app.command("sweep")
def sweep(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Purge what has expired on this date (ISO).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would be purged; write nothing.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Purge what has expired as of a date (default: today); print what was purged and kept."""
    from checks.errors import Problem
    from workers.cli import _invalid, _print_json, _runtime, out

    day: date | None = None
    if as_of is not None:
        try:
            day = date.fromisoformat(as_of)
        except ValueError:
            _invalid([Problem("--as-of", "must be a date like 2030-03-01")], as_json)
    report = _runtime().store_services.retention.sweep(day, dry_run=dry_run)
    data = report.as_dict()
    if as_json:
        _print_json(data)
        return
    verb = "would purge" if dry_run else "purged"
    out.print(
        f"as of {data['as_of']}: {verb} {data['purged']['checks']} check(s) and "
        f"{data['purged']['subjects']} subject(s); kept {data['kept']['flagged']} flagged, "
        f"{data['kept']['held']} under legal hold, "
        f"{data['kept']['retention_period']} still within their retention period",
        highlight=False,
    )


@retention_app.command("hold")
def hold(
    subject_id: SubjectArg,
    reason: Annotated[
        str, typer.Option("--reason", help="Why (e.g. a case reference; no personal data).")
    ],
    as_json: JsonOpt = False,
) -> None:
    """Place a legal hold: nothing of the subject's is purged or erased until it is released."""
    from checks.errors import Problem
    from workers.cli import _invalid

    if not reason.strip():
        _invalid([Problem("--reason", "must not be empty")], as_json)
    _set_hold(subject_id, reason.strip(), as_json)


@retention_app.command("release")
def release(
    subject_id: SubjectArg,
    as_json: JsonOpt = False,
) -> None:
    """Lift a subject's legal hold."""
    _set_hold(subject_id, None, as_json)


# -- subject ----------------------------------------------------------------------------------


@subject_app.command("find")
def find(
    file: Annotated[str, typer.Argument(help="JSON file with the person's fields, or -.")],
    as_json: JsonOpt = False,
) -> None:
    """Find the subject ids for a person (the same fields as a request's applicant)."""
    import sys

    from checks.errors import InvalidRequest, Problem
    from workers.cli import _fail, _invalid, _print_json, _runtime, out

    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except OSError as exc:
        _fail(f"cannot read {file}: {exc.strerror}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        _invalid([Problem("$", f"is not valid JSON (line {exc.lineno})")], as_json)
    try:
        ids = _runtime().store_services.subjects.find(data)
    except InvalidRequest as exc:
        _invalid(exc.problems, as_json)
    if as_json:
        _print_json({"subject_ids": ids})
    else:
        for sid in ids:
            out.print(sid, highlight=False)
        if not ids:
            out.print("no subject found for this person")


@subject_app.command("export")
def export(
    subject_id: SubjectArg,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write the JSON document to this file.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Subject access export: everything held about the person, decrypted, as one document."""
    from workers.cli import _fail, _print_json, out

    document = _for_subject(
        subject_id, as_json, lambda services: services.subjects.export(subject_id)
    )
    if out_file is not None:
        try:
            out_file.write_text(json.dumps(document, indent=2, default=str) + "\n")
        except OSError as exc:
            _fail(f"cannot write {out_file}: {exc.strerror}")
        if not as_json:
            out.print(
                f"wrote {out_file}; the request is due by {document['request']['due_at']}",
                highlight=False,
            )
            return
    # The export is a JSON document either way; --json keeps it on stdout with --out too.
    _print_json(document)


@subject_app.command("erase")
def erase(
    subject_id: SubjectArg,
    as_json: JsonOpt = False,
) -> None:
    """Erase what is not under retention; refused (exit 1) with the reason and the end date."""
    from checks.subjects import SubjectErasureRefused
    from workers.cli import _print_json, _refuse, out

    try:
        outcome = _for_subject(
            subject_id, as_json, lambda services: services.subjects.erase(subject_id)
        )
    except SubjectErasureRefused as exc:
        _refuse("erasure_refused", str(exc), as_json)
    data = {
        "subject_id": subject_id,
        "erased": {"checks": outcome.erased_checks, "subject": outcome.subject_erased},
    }
    if as_json:
        _print_json(data)
    else:
        out.print(
            f"erased subject {subject_id} and {len(outcome.erased_checks)} check(s)",
            highlight=False,
        )


# -- audit ------------------------------------------------------------------------------------


@audit_app.command("verify")
def verify(as_json: JsonOpt = False) -> None:
    """Check the audit trail's hash chain; exit 1 naming the first broken event."""
    from workers.cli import _print_json, _refuse, _runtime, out

    report = _runtime().store_services.retention.verify_audit()
    if not report.ok:
        _refuse(
            "audit_chain_broken",
            f"audit event {report.broken_event_id} (place {report.broken_seq} in the chain): "
            f"{report.problem}",
            as_json,
        )
    if as_json:
        _print_json({"ok": True, "events": report.events})
    else:
        out.print(f"audit trail intact: {report.events} event(s) verified")
