"""``checkctl tokens`` and ``checkctl serve`` as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from checks.access import token_digest
from tests.helpers import request_for
from workers.cli import app
from workers.runtime import get_runtime, set_runtime


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Run checkctl in-process on a fresh SQLite file in tmp_path."""
    monkeypatch.setenv("CHECKS_DATABASE_URL", f"sqlite:///{tmp_path / 'checks.db'}")
    set_runtime(None)
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(app, list(args), catch_exceptions=False)

    yield invoke
    set_runtime(None)


def test_tokens_create_prints_the_token_once_and_stores_only_its_hash(cli: Any) -> None:
    r = cli("tokens", "create", "--name", "orders", "--role", "submitter", "--json")

    assert r.exit_code == 0
    created = json.loads(r.stdout)
    assert created["name"] == "orders" and created["role"] == "submitter"
    assert created["token"].startswith("chk_")
    listed = json.loads(cli("tokens", "list", "--json").stdout)
    assert [(t["name"], t["role"], t["revoked_at"]) for t in listed] == [
        ("orders", "submitter", None)
    ]
    assert created["token"] not in json.dumps(listed)
    from sqlalchemy import text

    with get_runtime().store.engine.connect() as conn:
        stored = conn.execute(text("SELECT token_hash FROM api_tokens")).scalar_one()
    assert stored == token_digest(created["token"])


def test_tokens_create_is_audited_without_the_secret(cli: Any) -> None:
    r = cli("tokens", "create", "--name", "ops", "--role", "operator", "--json")
    token = json.loads(r.stdout)["token"]
    from sqlalchemy import text

    with get_runtime().store.engine.connect() as conn:
        rows = conn.execute(text("SELECT action, detail FROM audit_events")).all()
    assert [row[0] for row in rows] == ["token_created"]
    assert token not in str(rows)


def test_tokens_create_with_a_bad_role_or_name_exits_2_naming_both(cli: Any) -> None:
    r = cli("tokens", "create", "--name", "has space", "--role", "boss", "--json")
    assert r.exit_code == 2
    fields = [p["field"] for p in json.loads(r.stdout)["problems"]]
    assert fields == ["--name", "--role"]


def test_tokens_create_twice_with_one_name_is_refused(cli: Any) -> None:
    cli("tokens", "create", "--name", "ops", "--role", "operator")
    r = cli("tokens", "create", "--name", "ops", "--role", "reviewer", "--json")
    assert r.exit_code == 1
    assert json.loads(r.stdout)["error"] == "token_exists"


def test_tokens_revoke_marks_it_revoked_and_unknown_names_are_refused(cli: Any) -> None:
    cli("tokens", "create", "--name", "ops", "--role", "operator")
    assert cli("tokens", "revoke", "ops", "--json").exit_code == 0
    listed = json.loads(cli("tokens", "list", "--json").stdout)
    assert listed[0]["revoked_at"] is not None
    missing = cli("tokens", "revoke", "nobody", "--json")
    assert missing.exit_code == 1
    assert json.loads(missing.stdout)["error"] == "token_not_found"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_answers_on_loopback_with_the_embedded_defaults(tmp_path: Path) -> None:
    """`checkctl serve` on stub:// and SQLite: a submitted check is decided with no worker."""
    checkctl = str(Path(sys.executable).parent / "checkctl")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHECKS_")}
    env["CHECKS_DATABASE_URL"] = f"sqlite:///{tmp_path / 'checks.db'}"
    made = subprocess.run(
        [checkctl, "tokens", "create", "--name", "orders", "--role", "submitter", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    headers = {"Authorization": f"Bearer {json.loads(made.stdout)['token']}"}
    port = _free_port()
    server = subprocess.Popen(
        [checkctl, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "checkctl serve did not become ready"
            time.sleep(0.2)
        sub = httpx.post(f"{base}/v1/checks", json=request_for("carol"), headers=headers)
        assert sub.status_code == 202
        view = httpx.get(
            f"{base}/v1/checks/{sub.json()['id']}?wait=30", headers=headers, timeout=40
        ).json()
        assert (view["status"], view["decision"]) == ("decided", "decline")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
