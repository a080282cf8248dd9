"""``checkctl ledger audit``: the footprint ledger compared with a sandbox's call log."""

from __future__ import annotations

from typing import Annotated

import typer

from checks.errors import Problem
from workers.cli_options import JsonOpt

ledger_app = typer.Typer(
    help="The footprint ledger: audit it against what the agencies recorded.",
    no_args_is_help=True,
)


@ledger_app.command("audit")
def audit(
    sandbox_url: Annotated[
        str, typer.Option(help="Root URL of a running `checkctl sandbox serve`.")
    ] = "http://127.0.0.1:8765",
    check: Annotated[
        list[str] | None, typer.Option("--check", help="Audit only this check (repeatable).")
    ] = None,
    since: Annotated[str | None, typer.Option(help="Audit only checks newer than e.g. 6h.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Compare the ledger of a set of checks with the sandbox's own search log.

    Exit 0 when they agree (no search missing from the ledger, no confirmed row the agency does
    not hold, no slot searched twice), 1 otherwise or when the sandbox cannot be read.
    """
    from workers.cli import _invalid, _print_json, _refuse, _runtime, _since, out

    if check and since:
        _invalid([Problem("--check/--since", "give one or the other")], as_json)
    after = _since(since, as_json)
    import httpx

    from agencies.sandbox_server import fetch_searches

    try:
        searches = fetch_searches(sandbox_url)
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        _refuse(
            "sandbox_unreachable",
            f"could not read the sandbox's call log at {sandbox_url} ({type(exc).__name__})",
            as_json,
        )
    report = _runtime().store_services.ledger.audit(searches, check_ids=check, since=after)
    if as_json:
        _print_json(report.as_dict())
    else:
        out.print(
            f"{report.checks} check(s): {report.ledger_rows} ledger row(s), "
            f"{report.agency_searches} search(es) at the agencies; "
            f"{report.mismatches} mismatch(es), {len(report.duplicates)} duplicate search(es); "
            f"unknown rows: {report.unknown_seen} held by the agency, "
            f"{report.unknown_unseen} not",
            highlight=False,
        )
        for d in report.as_dict()["problems"]:
            out.print(
                f"  {d['kind']}: check {d['check_id']} {d['agency']} {d['client_ref']}",
                highlight=False,
            )
    if not report.ok:
        raise typer.Exit(1)
