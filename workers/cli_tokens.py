"""``checkctl tokens``: issue, list and revoke API tokens (for ``checkctl serve``).

The secret is printed once by ``create`` and stored only as a hash. Issuing and revoking are
audited under the local user's name.
"""

from __future__ import annotations

from typing import Annotated

import typer

from workers.cli_options import JsonOpt

tokens_app = typer.Typer(
    help="API tokens for the HTTP API and console: create, list, revoke.", no_args_is_help=True
)


def _cli_actor() -> str:
    """Who ran the command, for the audit trail (the OS user; never personal data)."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "cli"


@tokens_app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="Who the token is for (audited).")],
    role: Annotated[str, typer.Option("--role", help="submitter, operator, reviewer, compliance")],
    as_json: JsonOpt = False,
) -> None:
    """Issue a token: printed once, stored as a hash."""
    from checks.access import TOKEN_NAME, Role, parse_role
    from checks.errors import Problem
    from checks.tokens import TokenNameTaken
    from workers.cli import _invalid, _print_json, _refuse, _runtime, out

    problems = []
    if not TOKEN_NAME.match(name):
        problems.append(
            Problem("--name", "1-64 letters, digits, '.', '_' or '-', starting alphanumeric")
        )
    parsed = parse_role(role)
    if parsed is None:
        problems.append(Problem("--role", "must be " + ", ".join(r.value for r in Role)))
    if problems or parsed is None:
        _invalid(problems, as_json)
    rt = _runtime()
    try:
        issued = rt.store_services.tokens.create(name, parsed, actor=_cli_actor())
    except TokenNameTaken as exc:
        _refuse("token_exists", str(exc), as_json)
    if as_json:
        _print_json({"name": issued.name, "role": issued.role.value, "token": issued.token})
    else:
        out.print(issued.token, highlight=False, markup=False)
        out.print(
            f"token {issued.name} ({issued.role.value}): shown once, keep it safe",
            highlight=False,
            style="dim",
        )


@tokens_app.command("list")
def list_tokens(as_json: JsonOpt = False) -> None:
    """Every token's name, role, creation and revocation (never the secret)."""
    from rich.table import Table

    from workers.cli import _print_json, _runtime, out

    rt = _runtime()
    rows: list[dict[str, str | None]] = [
        {
            "name": t.name,
            "role": t.role.value,
            "created_at": t.created_at.isoformat(),
            "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None,
        }
        for t in rt.store_services.tokens.list()
    ]
    if as_json:
        _print_json(rows)
        return
    table = Table()
    for col in ("name", "role", "created", "revoked"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["name"], r["role"], (r["created_at"] or "")[:19], (r["revoked_at"] or "")[:19]
        )
    out.print(table)


@tokens_app.command("revoke")
def revoke(
    name: Annotated[str, typer.Argument(help="The token's name.")],
    as_json: JsonOpt = False,
) -> None:
    """Revoke a token: the API and console refuse it from the next request on."""
    from checks.tokens import TokenNotFound
    from workers.cli import _print_json, _refuse, _runtime, out

    rt = _runtime()
    try:
        changed = rt.store_services.tokens.revoke(name, actor=_cli_actor())
    except TokenNotFound as exc:
        _refuse("token_not_found", str(exc), as_json)
    if as_json:
        _print_json({"name": name, "revoked": True, "changed": changed})
    else:
        out.print(f"revoked {name}" if changed else f"{name} was already revoked", highlight=False)
