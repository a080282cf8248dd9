"""``checkctl``: submit, show, list, rerun and run checks; run the worker; run the demo.

Every command takes ``--json``. Exit status: 0 success, 2 invalid input (every problem listed
on stderr), 1 any other failure.

Importing this module (``checkctl --help``) loads typer and rich only: each command imports
what it needs when it runs (``tests/test_cli_startup_and_layout.py`` holds the line).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from checks.errors import Problem

app = typer.Typer(
    name="checkctl",
    help="Credit reference and fraud-prevention checks: submit, inspect, rerun, work.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)


@app.callback()
def _before_any_command() -> None:
    # Not for --help: a command's log lines go to stderr from its start (stdout is its output).
    from workers.logs import configure_logging

    configure_logging()


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
    from agencies.errors import AgencyConfigError
    from checks.config import ConfigError, InvalidSetting
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

    from checks.config import ConfigError, InvalidSetting
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


# -- commands --------------------------------------------------------------------------------


# The commands live in modules of their own; registered here in the order of `--help`.
from workers.cli_checks import list_checks, reconcile, rerun, show, submit  # noqa: E402
from workers.cli_worker import demo, worker  # noqa: E402

app.command()(submit)
app.command()(show)
app.command("list")(list_checks)
app.command()(rerun)
app.command()(reconcile)
app.command()(worker)
app.command()(demo)


from workers.cli_sandbox import fixtures_app, sandbox_app  # noqa: E402

app.add_typer(sandbox_app, name="sandbox")
app.add_typer(fixtures_app, name="fixtures")


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

from workers.cli_bench import bench  # noqa: E402

# Its options are the benchmark's own (`checkctl bench --help` shows them): passed through.
app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)(bench)


def main() -> None:
    """Console-script entry point; no traceback ever reaches the user."""
    try:
        app()
    except Exception as exc:  # the last line of defence: one line, no traceback
        _last_words(exc)
        sys.exit(1)


def _last_words(exc: Exception) -> None:
    """Say on stderr, in one line, why a command failed (imports only what failed)."""
    from sqlalchemy.exc import SQLAlchemyError

    from agencies.errors import AgencyConfigError
    from checks.config import ConfigError

    if isinstance(exc, ConfigError | AgencyConfigError):
        err.print(f"[bold red]configuration error:[/] {escape(str(exc))}", highlight=False)
    elif isinstance(exc, SQLAlchemyError):
        err.print(f"error: {_database_error(exc)}", highlight=False, markup=False)
    else:
        import structlog

        from workers.logs import configure_logging

        configure_logging()  # already, unless the command line itself failed
        structlog.get_logger(__name__).error("checkctl.internal_error", error=type(exc).__name__)
        err.print(f"error: internal error ({type(exc).__name__})", highlight=False, markup=False)
