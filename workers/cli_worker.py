"""``checkctl worker`` and ``checkctl demo``: run the worker; run the persona catalogue.

The worker's start-up (Dramatiq's main, the worker class, the schedule) lives in
``workers.start``; this module only checks the configuration and reports.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any

import typer

from workers.cli_options import JsonOpt


def worker(
    modules: Annotated[
        list[str] | None,
        typer.Argument(help="More actor modules to load beside workers.actors (as dramatiq's)."),
    ] = None,
    processes: Annotated[int, typer.Option(help="Worker processes.")] = 2,
    threads: Annotated[int, typer.Option(help="Threads per process.")] = 8,
    worker_timeout: Annotated[
        int, typer.Option(help="Longest idle poll of the queue, in ms (latency when idle).")
    ] = 15,
    as_json: JsonOpt = False,
) -> None:
    """Run the Dramatiq worker (Redis or RabbitMQ broker), and the reconciler schedule."""
    from workers.cli import _fail, _runtime
    from workers.settings import WorkerSettings
    from workers.start import run_worker

    ws = WorkerSettings.from_env()
    if ws.is_stub:
        _fail(
            "the embedded broker (stub://) has no separate worker: submit --wait and rerun "
            "run it in-process. Set CHECKS_BROKER_URL=redis://... to run a worker."
        )
    rt = _runtime()  # fail fast on configuration, and migrate once before forking
    rt.store.dispose()
    raise typer.Exit(
        run_worker(processes, threads, worker_timeout, ws.reconcile_every_s, modules or ())
    )


def demo(as_json: JsonOpt = False) -> None:
    """Run the persona catalogue end to end on the sandbox and print the decisions."""
    from agencies.sandbox import default_fixtures
    from checks.samples import persona_request
    from workers.cli import _print_json, _runtime, in_process_worker, out
    from workers.cli_render import demo_table

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
        demo_table(rows, run)
        out.print(
            f"{len(rows) - len(mismatches)} of {len(rows)} as expected "
            f"in {time.monotonic() - started:.1f}s"
        )
    if mismatches:
        raise typer.Exit(1)
