"""``checkctl submit | show | list | rerun | reconcile``: one check's life from the command line.

The commands go through the check service (``rt.service``); helpers are imported lazily from
``workers.cli`` (which registers these commands) to avoid an import cycle.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from checks.errors import (
    BrokerUnavailable,
    CheckError,
    CheckNotFound,
    EncryptionKeyMissing,
    InvalidRequest,
    Problem,
)
from checks.states import CheckStatus
from workers.cli_options import JsonOpt

#: The statuses `list --status` accepts.
_STATUSES = tuple(CheckStatus)


def submit(
    file: Annotated[str, typer.Argument(help="Check request JSON file, or - for stdin.")],
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the outcome.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait with --wait.")] = 300.0,
    as_json: JsonOpt = False,
) -> None:
    """Validate and queue a check; print its id (and with --wait, its outcome)."""
    from workers.cli import (
        _actor,
        _fail,
        _invalid,
        _print_json,
        _refuse,
        _runtime,
        in_process_worker,
        out,
    )
    from workers.cli_render import show_human

    try:
        # Bytes, not text: the request's encoding is checked (and named) by the loader.
        raw = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    except OSError as exc:
        _fail(f"cannot read {file}: {exc.strerror}")
    from checks.request import load_check_request

    try:
        request = load_check_request(raw)
    except InvalidRequest as exc:
        _invalid(exc.problems, as_json)
    rt = _runtime()
    with in_process_worker(rt):
        try:
            sub = rt.service.submit(request, actor=_actor())
        except InvalidRequest as exc:
            _invalid(exc.problems, as_json)
        except BrokerUnavailable as exc:
            _refuse("broker_unavailable", str(exc), as_json)
        except CheckError as exc:
            _fail(str(exc))
        if not wait:
            if as_json:
                _print_json({"id": sub.check_id, "created": sub.created})
            else:
                note = "" if sub.created else " (existing check for this idempotency key)"
                out.print(f"{sub.check_id}{note}", highlight=False)
            return
        try:
            view = rt.service.wait(sub.check_id, timeout=timeout)
        except TimeoutError as exc:
            _fail(str(exc))
    if as_json:
        _print_json(view)
    else:
        show_human(view)


def show(check_id: str, as_json: JsonOpt = False) -> None:
    """Status, steps, footprints, decision and reasons, timeline."""
    from workers.cli import _fail, _print_json, _reader
    from workers.cli_render import show_human

    try:
        view = _reader().get(check_id)
    except CheckNotFound:
        _fail(f"no such check: {check_id}")
    if as_json:
        _print_json(view)
    else:
        show_human(view)


def list_checks(
    status: Annotated[str | None, typer.Option(help="queued, running, decided or failed")] = None,
    agency: Annotated[
        str | None, typer.Option(help="Only checks that searched this agency")
    ] = None,
    since: Annotated[str | None, typer.Option(help="Only checks newer than e.g. 6h, 2d")] = None,
    limit: Annotated[int, typer.Option(help="At most this many", min=1, max=100_000)] = 200,
    as_json: JsonOpt = False,
) -> None:
    """List checks, newest first."""
    from rich.table import Table

    from workers.cli import _invalid, _print_json, _runtime, _since, out
    from workers.cli_render import status_style

    if status and status not in _STATUSES:
        _invalid([Problem("--status", "must be queued, running, decided or failed")], as_json)
    after = _since(since, as_json)
    rt = _runtime()
    data = rt.service.list_checks(status=status, agency=agency, since=after, limit=limit)
    if as_json:
        _print_json(data)
        return
    t = Table()
    for col in ("id", "key", "purpose", "status", "decision", "flagged", "created"):
        t.add_column(col)
    for d in data:
        t.add_row(
            d["id"],
            d["idempotency_key"],
            d["purpose"],
            f"[{status_style(d['status'])}]{d['status']}[/]",
            f"[{status_style(d['decision'])}]{d['decision'] or '-'}[/]",
            "yes" if d["flagged"] else "",
            d["created_at"][:19],
        )
    out.print(t)


def rerun(
    check_id: Annotated[str | None, typer.Argument(help="The failed check to rerun.")] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Rerun every failed check.")] = False,
    agency: Annotated[str | None, typer.Option(help="With --failed: only this agency's.")] = None,
    since: Annotated[str | None, typer.Option(help="With --failed: newer than e.g. 6h.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List, change nothing.")] = False,
    timeout: Annotated[float, typer.Option(help="In-process: seconds to wait.")] = 600.0,
    as_json: JsonOpt = False,
) -> None:
    """Rerun failed checks; only steps that have not completed are searched again."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from workers.cli import _invalid, _print_json, _runtime, _since, err, in_process_worker

    if bool(check_id) == failed:
        _invalid([Problem("CHECK_ID", "give one check id, or --failed (not both)")], as_json)
    if check_id and (agency or since or dry_run):
        _invalid([Problem("--agency/--since/--dry-run", "only apply with --failed")], as_json)
    after = _since(since, as_json)
    rt = _runtime()
    ids = [check_id] if check_id else rt.service.rerunnable(agency, after)
    if dry_run:
        _print_dry_run(ids, as_json)
        return
    results: dict[str, Any] = {}
    with (
        in_process_worker(rt),
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            disable=as_json or not ids,
        ) as progress,
    ):
        task = progress.add_task("rerunning", total=len(ids))
        for cid in ids:
            # A single named check refuses (exit 1) on its error; --failed records it and goes on.
            results[cid] = _rerun_one(rt, cid, single=bool(check_id), as_json=as_json)
            progress.advance(task)
        if rt.worker_settings.is_stub:
            waiting = progress.add_task("waiting for outcomes", total=len(ids))
            for cid in ids:
                _await_outcome(rt, cid, results[cid], timeout)
                progress.advance(waiting)
    if as_json:
        _print_json(results if failed else {"id": check_id, **results[check_id]})  # type: ignore[index]
        return
    _print_rerun_results(results)


def _print_dry_run(ids: list[str], as_json: bool) -> None:
    from workers.cli import _print_json, out

    if as_json:
        _print_json({"dry_run": True, "would_rerun": ids})
        return
    out.print(f"would rerun {len(ids)} check(s)")
    for cid in ids:
        out.print(f"  {cid}", highlight=False)


def _rerun_one(rt: Any, cid: str, *, single: bool, as_json: bool) -> dict[str, Any]:
    """Rerun one check: its result, or (for a single named check) exit on its error."""
    from workers.cli import _actor, _fail, _refuse

    try:
        return {"searched_again": rt.service.rerun(cid, actor=_actor())}
    except CheckNotFound:
        _fail(f"no such check: {cid}")
    except (EncryptionKeyMissing, BrokerUnavailable) as exc:
        if single:
            code = "encryption_key_missing"
            if isinstance(exc, BrokerUnavailable):
                code = "broker_unavailable"
            _refuse(code, str(exc), as_json)
        return {"error": str(exc)}
    except CheckError as exc:
        if single:
            _fail(str(exc))
        return {"error": str(exc)}


def _await_outcome(rt: Any, cid: str, result: dict[str, Any], timeout: float) -> None:
    """In-process runs: add the rerun check's outcome (or "running") to its result."""
    if "error" in result:
        return
    try:
        v = rt.service.wait(cid, timeout=timeout)
        result.update(status=v["status"], decision=v["decision"])
    except TimeoutError:
        result.update(status=CheckStatus.RUNNING)


def _print_rerun_results(results: dict[str, Any]) -> None:
    """One line per check; exit 1 if any could not be rerun."""
    from workers.cli import out

    for cid, r in results.items():
        outcome = r.get("error") or (
            f"{r.get('status', 'queued')} {r.get('decision') or ''}".strip()
            + f"  (searched again: {', '.join(r['searched_again']) or 'nothing'})"
        )
        out.print(f"{cid}  {outcome}", highlight=False)
    if any("error" in r for r in results.values()):
        raise typer.Exit(1)


def reconcile(as_json: JsonOpt = False) -> None:
    """Re-queue stuck checks and fail overdue ones, once (workers do this every minute)."""
    from workers.associations import association_service, notice_stale_after
    from workers.cli import _print_json, _refuse, _runtime, in_process_worker, out

    rt = _runtime()
    with in_process_worker(rt):
        report = rt.service.reconcile(rt.stale_after, rt.deadline)
        notices = association_service(rt).resend_stale(notice_stale_after(rt))
    data = {
        "requeued": report.requeued,
        "failed": report.failed,
        "resent": report.resent,
        "notices_requeued": notices,
    }
    if as_json:
        _print_json(data)
    else:
        out.print(
            f"requeued {len(report.requeued)}, failed {len(report.failed)}, "
            f"resent from the outbox {len(report.resent)}"
        )
    if report.unsent:
        _refuse(
            "broker_unavailable",
            f"{len(report.unsent)} message(s) could not be sent: the broker "
            f"({rt.worker_settings.safe_broker_url}) is unreachable; they stay in the outbox",
            as_json=False,  # the JSON report above is the result
        )
