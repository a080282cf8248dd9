"""``checkctl sandbox serve`` and ``checkctl fixtures record``: the agency sandbox over HTTP."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Annotated

import typer

from checks.errors import Problem
from workers.cli_options import JsonOpt

sandbox_app = typer.Typer(help="The agency sandbox over real HTTP.", no_args_is_help=True)
fixtures_app = typer.Typer(
    help="Agency fixtures: record from a test environment.", no_args_is_help=True
)


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
    from workers.cli import _invalid, err, out

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
    from workers.cli import _fail, _invalid, _print_json, out

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
