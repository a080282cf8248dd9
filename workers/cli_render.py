"""How ``checkctl`` shows a check and the demo's results to people (rich tables)."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table


def status_style(status: str | None) -> str:
    """The rich colour for a check status or decision."""
    return {
        "accept": "green",
        "decided": "green",
        "refer": "yellow",
        "decline": "red",
        "failed": "red",
        "running": "cyan",
        "queued": "cyan",
    }.get(status or "", "white")


def show_human(view: dict[str, Any]) -> None:
    """A check's view for people: status line, reasons, steps, footprints, timeline."""
    from workers.cli import out

    decision = view["decision"] or "-"
    out.print(f"[bold]check[/] {view['id']}  key {view['idempotency_key']}", highlight=False)
    out.print(
        f"status [{status_style(view['status'])}]{view['status']}[/]   decision "
        f"[{status_style(view['decision'])}]{decision}[/]   flagged {view['flagged']}   "
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


def demo_table(rows: list[dict[str, Any]], run: str) -> None:
    """The demo's decisions; searches and reasons go under the table on a narrow terminal.

    Reason codes are long single words: squeezed into a column of an 80-column table, rich
    would fold them a few letters per line.
    """
    from workers.cli import out

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
            f"[{status_style(shown)}]{shown}[/]",
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
