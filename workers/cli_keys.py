"""``checkctl keys``: which rows each encryption key protects, and rotation to the newest key."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import typer

from workers.cli_options import JsonOpt

if TYPE_CHECKING:
    from checks.keys import Progress as OnProgress

R = TypeVar("R")

keys_app = typer.Typer(
    help="Encryption keys: rows under each key, and rotation to the newest.",
    no_args_is_help=True,
)


def _with_progress(description: str, as_json: bool, work: Callable[[OnProgress], R]) -> R:
    """Run ``work(progress)`` with a progress bar on stderr (stdout stays the result)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from workers.cli import err

    bar = Progress(
        TextColumn(description), BarColumn(), MofNCompleteColumn(), console=err, disable=as_json
    )
    with bar:
        task = bar.add_task(description, total=None)
        return work(lambda done, total: bar.update(task, completed=done, total=total))


@keys_app.command("check")
def keys_check(as_json: JsonOpt = False) -> None:
    """Count the encrypted rows under each configured key (newest first); exit 1 if any row
    is under a key no longer configured."""
    from workers.cli import _print_json, _refuse, _runtime, out

    rt = _runtime()
    report = _with_progress("counting", as_json, rt.store_services.keys.check)
    if as_json:
        _print_json(report.as_dict())
    else:
        for position, (fp, rows) in enumerate(
            zip(report.fingerprints, report.rows_by_key, strict=True)
        ):
            label = "newest" if position == 0 else f"older #{position}"
            out.print(f"key {fp} ({label}): {rows} row(s)", highlight=False)
        out.print(f"under no configured key: {report.unreadable} row(s)", highlight=False)
    if report.unreadable:
        _refuse(
            "encryption_key_missing",
            f"{report.unreadable} row(s) are encrypted under a key not in CHECKS_ENCRYPTION_KEYS",
            as_json=False,  # the JSON report above already carries the count
        )


@keys_app.command("rotate")
def keys_rotate(as_json: JsonOpt = False) -> None:
    """Re-encrypt every row under the newest key (CHECKS_ENCRYPTION_KEYS' first); resumable:
    run it again after an interruption and it carries on where it stopped."""
    from workers.cli import _print_json, _refuse, _runtime, out

    rt = _runtime()
    if rt.store_services.keys.cipher.using_development_key:
        _refuse(
            "development_key",
            "set CHECKS_ENCRYPTION_KEYS (the new key first, then the old ones) before rotating",
            as_json,
        )
    report = _with_progress("re-encrypting", as_json, rt.store_services.keys.rotate)
    if as_json:
        _print_json(report.as_dict())
    else:
        out.print(
            f"re-encrypted {report.rotated} row(s); {report.already_current} already under the "
            f"newest key; {report.subjects_rehashed} subject hash(es) moved; "
            f"{report.unreadable} unreadable",
            highlight=False,
        )
    if report.unreadable:
        _refuse(
            "encryption_key_missing",
            f"{report.unreadable} row(s) could not be read with any configured key and were "
            "left as they are",
            as_json=False,
        )
