"""How ``checkctl`` shows a check and the demo's results to people (rich tables)."""

from __future__ import annotations

from collections.abc import Iterable
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
        out.print(
            _titled(
                "reasons",
                ("code", "text", "agency"),
                ((r["code"], r["text"], r["agency"]) for r in view["reasons"]),
            )
        )
    for a in view.get("associations", []):
        how = " and ".join(w for w in ("created", "used") if a[w])
        out.print(
            f"financial association {a['id']} ({a['source']}, {a['status']}): {how} by this check",
            highlight=False,
        )
    steps = (
        (s["agency"], s["slot"], s["search_type"], s["status"], str(s["attempts"]), s["error"])
        for s in view["steps"]
    )
    out.print(_titled("steps", ("agency", "slot", "search", "status", "attempts", "error"), steps))
    keys = ("agency", "search_type", "purpose_code", "state", "searched_at", "client_ref")
    footprints = (tuple(f[k] for k in keys) for f in view["footprints"])
    columns = ("agency", "search", "code", "state", "searched at", "client ref")
    out.print(_titled("footprints", columns, footprints))
    timeline = ((e["at"], e["actor"], e["action"]) for e in view["timeline"])
    out.print(_titled("timeline", ("at", "actor", "action"), timeline))


def _titled(title: str, columns: tuple[str, ...], rows: Iterable[tuple[str | None, ...]]) -> Table:
    """A table with its title on the left, one column per name, a missing cell blank."""
    t = Table(title=title, title_justify="left")
    for col in columns:
        t.add_column(col)
    for row in rows:
        t.add_row(*(cell or "" for cell in row))
    return t


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
