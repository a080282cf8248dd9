"""``checkctl``: submit, show, list, rerun and run checks; run the worker; run the demo.

Every command takes ``--json``. Exit status: 0 success, 2 invalid input (every problem listed
on stderr), 1 any other failure.
"""

from __future__ import annotations

import functools
import json
import re
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn

import structlog
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from agencies.errors import AgencyConfigError
from checks.config import ConfigError
from checks.errors import (
    BrokerUnavailable,
    CheckError,
    CheckNotFound,
    EncryptionKeyMissing,
    InvalidRequest,
    Problem,
)
from workers.logs import configure_logging

app = typer.Typer(
    name="checkctl",
    help="Credit reference and fraud-prevention checks: submit, inspect, rerun, work.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


# -- helpers ---------------------------------------------------------------------------------


def _fail(message: str, code: int = 1) -> NoReturn:
    # One line however long (soft_wrap), and the message is text, never markup.
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _refuse(code: str, message: str, as_json: bool) -> NoReturn:
    """A refusal (exit 1): with --json, ``{"error": CODE, "message": TEXT}`` on stdout."""
    if as_json:
        print(json.dumps({"error": code, "message": message}))
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def _invalid(problems: list[Problem], as_json: bool) -> NoReturn:
    if as_json:
        print(
            json.dumps(
                {
                    "error": "invalid_request",
                    "problems": [{"field": p.field, "message": p.message} for p in problems],
                }
            )
        )
    err.print(f"[bold red]invalid request[/]: {len(problems)} problem(s)", highlight=False)
    for p in problems:
        err.print(f"  {p.field}: {p.message}", highlight=False, markup=False)
    raise typer.Exit(2)


def _runtime() -> Any:
    from sqlalchemy.exc import SQLAlchemyError

    from agencies.config import InvalidAgencySetting
    from checks.config import InvalidSetting
    from workers.runtime import get_runtime

    try:
        # Importing the actors declares them on the broker (needed for in-process runs).
        import workers.actors  # noqa: F401

        return get_runtime()
    except (InvalidSetting, InvalidAgencySetting) as exc:
        _fail(str(exc), code=2)
    except (ConfigError, AgencyConfigError) as exc:
        _fail(str(exc))
    except SQLAlchemyError as exc:
        _fail(_database_error(exc))


def _database_error(exc: Exception) -> str:
    """One line naming the database (without its password) and why it cannot be used."""
    from sqlalchemy.engine import make_url

    from checks.config import Settings

    try:
        url = make_url(Settings.from_env().database_url).render_as_string(hide_password=True)
    except Exception:  # an unparseable URL is itself the reason
        url = "CHECKS_DATABASE_URL"
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"database {url} is unreachable: {reason[0] if reason else type(exc).__name__}"


def _actor() -> str:
    """Who is acting, for the audit trail: the operating-system user running checkctl."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no user name for this uid (some containers)
        import os

        return f"cli:uid{os.getuid()}"


def utcnow() -> datetime:
    """Now, aware, in UTC (not imported from checks.models: that pulls in SQLAlchemy)."""
    return datetime.now(UTC)


def _reader() -> Any:
    """Read-only access for commands that only read: no broker or agencies to start."""
    from sqlalchemy.exc import SQLAlchemyError

    from checks.config import InvalidSetting
    from workers.runtime import get_reader

    try:
        return get_reader()
    except InvalidSetting as exc:
        _fail(str(exc), code=2)
    except ConfigError as exc:
        _fail(str(exc))
    except SQLAlchemyError as exc:
        _fail(_database_error(exc))


_DURATION = re.compile(r"^(\d+)([smhdw])$")
#: Nothing is kept longer than the six-year retention of flagged records; a century is ample.
_MAX_DURATION = timedelta(days=36_500)


def parse_duration(text: str) -> timedelta:
    """``30m``, ``6h``, ``2d``, ``1w`` -> timedelta; ValueError if malformed or over 100 years."""
    m = _DURATION.match(text.strip())
    if not m:
        raise ValueError("must be a duration like 30m, 6h, 2d or 1w")
    digits, unit = m.group(1), m.group(2)
    # Length first: int() of thousands of digits is itself refused (and slow).
    seconds = int(digits[-12:]) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit]
    if len(digits.lstrip("0")) > 12 or seconds > _MAX_DURATION.total_seconds():
        raise ValueError("must be at most 100 years (36500d)")
    return timedelta(seconds=seconds)


def _since(text: str | None, as_json: bool) -> datetime | None:
    """``--since``'s cut-off time, or exit 2 naming the option."""
    if text is None:
        return None
    try:
        return utcnow() - parse_duration(text)
    except ValueError as exc:
        _invalid([Problem("--since", str(exc))], as_json)


#: How long a command on the embedded broker waits, at most, for what it queued to finish.
_DRAIN_MS = 300_000


@contextmanager
def in_process_worker(rt: Any) -> Iterator[None]:
    """With the stub broker, run a Dramatiq worker in this process; otherwise do nothing."""
    if not rt.worker_settings.is_stub:
        yield
        return
    import dramatiq
    from dramatiq.errors import QueueJoinTimeout

    worker = dramatiq.Worker(rt.broker, worker_threads=8, worker_timeout=50)
    worker.start()
    try:
        yield
    finally:
        # Nothing else will ever run what this command queued: finish it before stopping (a
        # stop interrupts a running check, which would then wait for a later command).
        try:
            for queue in sorted(rt.broker.get_declared_queues()):
                rt.broker.join(queue, timeout=_DRAIN_MS)
        except QueueJoinTimeout:
            err.print("stopping with work still queued; a later command will finish it")
        worker.stop()
        # The stopped worker's hook would otherwise stay on the broker for the process's life.
        rt.broker.middleware[:] = [
            m for m in rt.broker.middleware if getattr(m, "worker", None) is not worker
        ]


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def _status_style(status: str | None) -> str:
    return {
        "accept": "green",
        "decided": "green",
        "refer": "yellow",
        "decline": "red",
        "failed": "red",
        "running": "cyan",
        "queued": "cyan",
    }.get(status or "", "white")


def _show_human(view: dict[str, Any]) -> None:
    decision = view["decision"] or "-"
    out.print(f"[bold]check[/] {view['id']}  key {view['idempotency_key']}", highlight=False)
    out.print(
        f"status [{_status_style(view['status'])}]{view['status']}[/]   decision "
        f"[{_status_style(view['decision'])}]{decision}[/]   flagged {view['flagged']}   "
        f"retention until {view['retention_until'] or '-'}",
        highlight=False,
    )
    if view["failure_reason"]:
        out.print(f"[red]failure:[/] {escape(view['failure_reason'])}", highlight=False)
    review = view.get("review")
    if review:
        out.print(
            f"review ({review['kind']}) {review['status']}: requested {review['requested_at']}, "
            f"representations {'given' if review['representations'] else 'none'}, "
            f"reviewer {review['reviewer'] or '-'}, decided {review['decided_at'] or '-'}",
            highlight=False,
            markup=False,
        )
    if view.get("how_to_contest"):
        out.print(f"[yellow]automated decline:[/] {view['how_to_contest']}", highlight=False)
        out.print(
            f"  record a contest: checkctl review request {view['id']} --representations TEXT",
            highlight=False,
        )
    if view["reasons"]:
        t = Table(title="reasons", title_justify="left")
        for col in ("code", "text", "agency"):
            t.add_column(col)
        for r in view["reasons"]:
            t.add_row(r["code"], r["text"], r["agency"] or "")
        out.print(t)
    for a in view.get("associations", []):
        how = " and ".join(w for w in ("created", "used") if a[w])
        out.print(
            f"financial association {a['id']} ({a['source']}, {a['status']}): {how} by this check",
            highlight=False,
        )
    t = Table(title="steps", title_justify="left")
    for col in ("agency", "slot", "search", "status", "attempts", "error"):
        t.add_column(col)
    for s in view["steps"]:
        t.add_row(
            s["agency"],
            s["slot"],
            s["search_type"],
            s["status"],
            str(s["attempts"]),
            s["error"] or "",
        )
    out.print(t)
    t = Table(title="footprints", title_justify="left")
    for col in ("agency", "search", "code", "state", "searched at", "client ref"):
        t.add_column(col)
    for f in view["footprints"]:
        t.add_row(
            f["agency"],
            f["search_type"],
            f["purpose_code"],
            f["state"],
            f["searched_at"],
            f["client_ref"],
        )
    out.print(t)
    t = Table(title="timeline", title_justify="left")
    for col in ("at", "actor", "action"):
        t.add_column(col)
    for e in view["timeline"]:
        t.add_row(e["at"], e["actor"], e["action"])
    out.print(t)


# -- commands --------------------------------------------------------------------------------


@app.command()
def submit(
    file: Annotated[str, typer.Argument(help="Check request JSON file, or - for stdin.")],
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the outcome.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait with --wait.")] = 300.0,
    as_json: JsonOpt = False,
) -> None:
    """Validate and queue a check; print its id (and with --wait, its outcome)."""
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
        _show_human(view)


@app.command()
def show(check_id: str, as_json: JsonOpt = False) -> None:
    """Status, steps, footprints, decision and reasons, timeline."""
    try:
        view = _reader().get(check_id)
    except CheckNotFound:
        _fail(f"no such check: {check_id}")
    if as_json:
        _print_json(view)
    else:
        _show_human(view)


@app.command("list")
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
    if status and status not in ("queued", "running", "decided", "failed"):
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
            f"[{_status_style(d['status'])}]{d['status']}[/]",
            f"[{_status_style(d['decision'])}]{d['decision'] or '-'}[/]",
            "yes" if d["flagged"] else "",
            d["created_at"][:19],
        )
    out.print(t)


@app.command()
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
    if bool(check_id) == failed:
        _invalid([Problem("CHECK_ID", "give one check id, or --failed (not both)")], as_json)
    if check_id and (agency or since or dry_run):
        _invalid([Problem("--agency/--since/--dry-run", "only apply with --failed")], as_json)
    after = _since(since, as_json)
    rt = _runtime()
    ids = [check_id] if check_id else rt.service.rerunnable(agency, after)
    if dry_run:
        if as_json:
            _print_json({"dry_run": True, "would_rerun": ids})
        else:
            out.print(f"would rerun {len(ids)} check(s)")
            for cid in ids:
                out.print(f"  {cid}", highlight=False)
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
            try:
                results[cid] = {"searched_again": rt.service.rerun(cid, actor=_actor())}
            except CheckNotFound:
                _fail(f"no such check: {cid}")
            except (EncryptionKeyMissing, BrokerUnavailable) as exc:
                if check_id:
                    code = "encryption_key_missing"
                    if isinstance(exc, BrokerUnavailable):
                        code = "broker_unavailable"
                    _refuse(code, str(exc), as_json)
                results[cid] = {"error": str(exc)}
            except CheckError as exc:
                if check_id:
                    _fail(str(exc))
                results[cid] = {"error": str(exc)}
            progress.advance(task)
        if rt.worker_settings.is_stub:
            waiting = progress.add_task("waiting for outcomes", total=len(ids))
            for cid in ids:
                if "error" not in results[cid]:
                    try:
                        v = rt.service.wait(cid, timeout=timeout)
                        results[cid].update(status=v["status"], decision=v["decision"])
                    except TimeoutError:
                        results[cid].update(status="running")
                progress.advance(waiting)
    if as_json:
        _print_json(results if failed else {"id": check_id, **results[check_id]})  # type: ignore[index]
        return
    for cid, r in results.items():
        outcome = r.get("error") or (
            f"{r.get('status', 'queued')} {r.get('decision') or ''}".strip()
            + f"  (searched again: {', '.join(r['searched_again']) or 'nothing'})"
        )
        out.print(f"{cid}  {outcome}", highlight=False)
    if any("error" in r for r in results.values()):
        raise typer.Exit(1)


@app.command()
def reconcile(as_json: JsonOpt = False) -> None:
    """Re-queue stuck checks and fail overdue ones, once (workers do this every minute)."""
    from workers.associations import association_service, notice_stale_after

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


@app.command()
def worker(
    modules: Annotated[
        list[str] | None,
        typer.Argument(help="More actor modules to load beside workers.actors (as dramatiq's)."),
    ] = None,
    processes: Annotated[int, typer.Option(help="Worker processes.")] = 2,
    threads: Annotated[int, typer.Option(help="Threads per process.")] = 8,
    worker_timeout: Annotated[
        int, typer.Option(help="Longest idle poll of the queue, in ms (latency when idle).")
    ] = 30,
    as_json: JsonOpt = False,
) -> None:
    """Run the Dramatiq worker (Redis or RabbitMQ broker), and the reconciler schedule."""
    from workers.broker import STOP_TIMEOUT_MS, QuickPollWorker
    from workers.settings import WorkerSettings

    ws = WorkerSettings.from_env()
    if ws.is_stub:
        _fail(
            "the embedded broker (stub://) has no separate worker: submit --wait and rerun "
            "run it in-process. Set CHECKS_BROKER_URL=redis://... to run a worker."
        )
    rt = _runtime()  # fail fast on configuration, and migrate once before forking
    rt.store.dispose()
    stop = threading.Event()
    threading.Thread(target=_schedule, args=(ws.reconcile_every_s, stop), daemon=True).start()
    import dramatiq.cli
    from dramatiq.cli import main as dramatiq_main
    from dramatiq.cli import make_argument_parser

    # Dramatiq's command line has no option for the consumers' idle poll (1 s by default, which
    # is added latency whenever a queue runs dry); the forked workers inherit this binding.
    dramatiq.cli.Worker = functools.partial(  # type: ignore[attr-defined,assignment]
        QuickPollWorker, poll_ms=worker_timeout, guard_stop_signals=True
    )

    args = make_argument_parser().parse_args(  # type: ignore[no-untyped-call]
        [
            "workers.actors",
            *(modules or []),
            "--processes",
            str(processes),
            "--threads",
            str(threads),
            "--worker-shutdown-timeout",
            str(STOP_TIMEOUT_MS),
            "--skip-logging",
        ]
    )
    try:
        code = dramatiq_main(args)  # type: ignore[no-untyped-call]
    finally:
        stop.set()
    raise typer.Exit(code or 0)


def _schedule(every: int, stop: threading.Event) -> None:
    """Send the reconcile, audit-seal and daily-sweep jobs every ``every`` seconds.

    Harmless if several workers do: each job claims its turn in the database.
    """
    from workers.actors import reconcile_checks, retention_daily, seal_audit_trail

    while not stop.wait(every):
        try:
            reconcile_checks.send()
            # Each runs once per period whichever process gets it (claims in the database).
            seal_audit_trail.send()
            retention_daily.send()
        except Exception as exc:  # a broker blip must not kill the schedule
            err.print(f"reconcile schedule: {type(exc).__name__}", highlight=False)


@app.command()
def demo(as_json: JsonOpt = False) -> None:
    """Run the persona catalogue end to end on the sandbox and print the decisions."""
    from agencies.sandbox import default_fixtures
    from checks.samples import persona_request

    rt = _runtime()
    fixtures = default_fixtures()
    run = uuid.uuid4().hex[:8]
    # Every persona's new order, plus Hana at dual bureau (two CRAs; still never declined).
    scenarios = [(p, "", "720.00") for p in fixtures.personas if p.expected is not None]
    scenarios.append((fixtures.persona("hana"), " (2 bureaux)", "2500.00"))
    rows: list[dict[str, Any]] = []
    started = time.monotonic()
    with in_process_worker(rt):
        submitted = [
            (
                p,
                label,
                rt.service.submit(
                    persona_request(p.key, f"DEMO-{run}-{p.key}-{amount}", credit_amount=amount)
                ).check_id,
            )
            for p, label, amount in scenarios
        ]
        for p, label, cid in submitted:
            v = rt.service.wait(cid, timeout=120)
            rows.append(
                {
                    "persona": f"{p.forename} {p.surname}{label}",
                    "story": p.story,
                    "id": cid,
                    "expected": p.expected,
                    "expected_flagged": p.flagged,
                    "status": v["status"],
                    "decision": v["decision"],
                    "flagged": v["flagged"],
                    "associated": any(a["created"] for a in v["associations"]),
                    "reasons": [r["code"] for r in v["reasons"]],
                    "reason_texts": [r["text"] for r in v["reasons"]],
                    "searched": [f"{f['agency']}:{f['search_type']}" for f in v["footprints"]],
                    "ok": v["decision"] == p.expected and v["flagged"] == p.flagged,
                }
            )
    mismatches = [r for r in rows if not r["ok"]]
    if as_json:
        _print_json(
            {
                "run": run,
                "seconds": round(time.monotonic() - started, 2),
                "results": rows,
                "mismatches": len(mismatches),
            }
        )
    else:
        _demo_table(rows, run)
        out.print(
            f"{len(rows) - len(mismatches)} of {len(rows)} as expected "
            f"in {time.monotonic() - started:.1f}s"
        )
    if mismatches:
        raise typer.Exit(1)


def _demo_table(rows: list[dict[str, Any]], run: str) -> None:
    """The demo's decisions; searches and reasons go under the table on a narrow terminal.

    Reason codes are long single words: squeezed into a column of an 80-column table, rich
    would fold them a few letters per line.
    """
    wide = out.width >= 140
    t = Table(title=f"persona catalogue: new orders on the sandbox (run {run})")
    t.add_column("persona", no_wrap=True)
    t.add_column("expected")
    t.add_column("decision")
    t.add_column("flag")
    if wide:
        t.add_column("searches (footprints)")
        t.add_column("reasons")
    t.add_column("", no_wrap=True)
    notes: list[str] = []
    for r in rows:
        shown = r["decision"] or r["status"]
        extra = ["association recorded"] if r["associated"] else []
        searched = " ".join(r["searched"])
        # Two bureaux often give the same reason: say it once.
        reasons = "; ".join(dict.fromkeys(r["reason_texts"] + extra)) or "-"
        cells = [
            r["persona"],
            r["expected"],
            f"[{_status_style(shown)}]{shown}[/]",
            "fraud" if r["flagged"] else "",
        ]
        if wide:
            cells += [searched, reasons]
        else:
            notes.append(f"[bold]{r['persona']}[/]: searched {searched}; {reasons}")
        t.add_row(*cells, "[green]ok[/]" if r["ok"] else "[red]MISMATCH[/]")
    out.print(t)
    for note in notes:
        out.print(note, highlight=False)


sandbox_app = typer.Typer(help="The agency sandbox over real HTTP.", no_args_is_help=True)
fixtures_app = typer.Typer(
    help="Agency fixtures: record from a test environment.", no_args_is_help=True
)
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(fixtures_app, name="fixtures")


@sandbox_app.command("serve")
def sandbox_serve(
    host: Annotated[str, typer.Option(help="Loopback address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0 picks a free one).", min=0, max=65535)] = 8765,
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote",
            help="Allow a non-loopback --host (anyone who can reach it can "
            "change the faults every user of this sandbox sees).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Serve every agency's sandbox (fixtures, personas, latency, faults) over HTTP."""
    if not allow_remote and not _is_loopback(host):
        # /_sandbox/faults changes behaviour for everyone; only this machine may reach it.
        _invalid([Problem("--host", "must be a loopback address unless --allow-remote")], as_json)
    from agencies.config import AgencySettings, build_sandbox
    from agencies.sandbox_server import SandboxServer

    server = SandboxServer(build_sandbox(AgencySettings.from_env()), host, port).start()
    urls = {a: server.base_url(a) for a in sorted(server.sandbox.base_urls)}
    if as_json:
        print(json.dumps({"base_urls": urls}), flush=True)
    else:
        for agency, url in urls.items():
            out.print(f"CHECKS_{agency.upper()}_BASE_URL={url}", highlight=False)
        err.print("serving the sandbox; Ctrl-C to stop")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it could resolve to anything


@fixtures_app.command("record")
def fixtures_record(
    agency: Annotated[str, typer.Argument(help="Agency name, e.g. experian.")],
    persona: Annotated[str, typer.Option(help="Persona key the fixture is recorded as.")],
    base_url: Annotated[str, typer.Option(help="The agency's test environment URL.")],
    identity: Annotated[
        Path,
        typer.Option(
            help="JSON file: the agency's test identity (person fields as in a check request)."
        ),
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="Fixtures folder.")] = Path("fixtures"),
    as_json: JsonOpt = False,
) -> None:
    """Record an agency's answer for a test identity, with personal data replaced."""
    import os

    from agencies.recorder import RecordingError, record_sync
    from agencies.registry import UnknownAgency, load_adapter
    from agencies.sandbox import default_fixtures
    from checks.inputs import person_from_request
    from checks.request import Person as RequestPerson

    try:
        cls = load_adapter(agency)
        who = default_fixtures().persona(persona)
    except (UnknownAgency, KeyError) as exc:
        _invalid([Problem("agency/--persona", str(exc))], as_json)
    try:
        person = person_from_request(RequestPerson.model_validate(json.loads(identity.read_text())))
    except (OSError, ValueError) as exc:
        _invalid([Problem("--identity", str(exc).splitlines()[0])], as_json)
    prefix = f"CHECKS_{agency.upper()}_"
    missing = [
        prefix + k.upper() for k in cls.credential_names if not os.environ.get(prefix + k.upper())
    ]
    if missing:
        _fail("recording needs the agency's test credentials; missing: " + ", ".join(missing))
    creds = {k: os.environ[prefix + k.upper()] for k in cls.credential_names}
    try:
        path = record_sync(agency, base_url, creds, person, who, out_dir)
    except (RecordingError, Exception) as exc:  # noqa: B014 - report any agency failure plainly
        _fail(f"recording failed: {exc}")
    if as_json:
        _print_json({"written": str(path)})
    else:
        out.print(f"wrote {path}", highlight=False)


from workers.cli_tokens import tokens_app  # noqa: E402  (commands import their needs lazily)
from workers.cli_web import serve  # noqa: E402

app.add_typer(tokens_app, name="tokens")
app.command("serve")(serve)

from workers.cli_review import fraud_app, review_app  # noqa: E402 - after the helpers it uses

app.add_typer(review_app, name="review")
app.add_typer(fraud_app, name="fraud")

from workers.cli_keys import keys_app  # noqa: E402 - sub-apps register after the helpers

app.add_typer(keys_app, name="keys")

from workers.cli_associations import associations_app  # noqa: E402

app.add_typer(associations_app, name="associations")

from workers.cli_retention import audit_app, retention_app, subject_app  # noqa: E402

app.add_typer(retention_app, name="retention")
app.add_typer(subject_app, name="subject")
app.add_typer(audit_app, name="audit")

from workers.cli_ledger import ledger_app  # noqa: E402

app.add_typer(ledger_app, name="ledger")


def main() -> None:
    """Console-script entry point; no traceback ever reaches the user."""
    from sqlalchemy.exc import SQLAlchemyError

    configure_logging()
    try:
        app()
    except (ConfigError, AgencyConfigError) as exc:
        err.print(f"[bold red]configuration error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(1)
    except SQLAlchemyError as exc:
        err.print(f"error: {_database_error(exc)}", highlight=False, markup=False)
        sys.exit(1)
    except Exception as exc:  # the last line of defence: one line, no traceback
        structlog.get_logger(__name__).error("checkctl.internal_error", error=type(exc).__name__)
        err.print(f"error: internal error ({type(exc).__name__})", highlight=False, markup=False)
        sys.exit(1)
