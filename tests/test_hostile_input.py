"""Hostile and broken input through ``checkctl``: exit 2 naming the field or option (exit 1
with one line for an unreachable database), never a traceback, never personal data echoed."""

from __future__ import annotations

import asyncio
import getpass
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.helpers import request_for
from workers.cli import app
from workers.runtime import Runtime, set_runtime


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Run checkctl in-process on a fresh SQLite file in tmp_path."""
    monkeypatch.setenv("CHECKS_DATABASE_URL", f"sqlite:///{tmp_path / 'checks.db'}")
    monkeypatch.delenv("CHECKS_SANDBOX_FAULTS", raising=False)
    set_runtime(None)
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        result = runner.invoke(app, list(args), catch_exceptions=False)
        assert "Traceback" not in result.stdout + result.stderr
        return result

    yield invoke
    set_runtime(None)


def _file(tmp_path: Path, content: bytes) -> str:
    path = tmp_path / "request.json"
    path.write_bytes(content)
    return str(path)


def _request_bytes() -> bytes:
    return json.dumps(request_for("alice")).encode()


def test_a_utf8_byte_order_mark_is_accepted(cli: Any, tmp_path: Path) -> None:
    result = cli("submit", "--json", _file(tmp_path, b"\xef\xbb\xbf" + _request_bytes()))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["created"] is True


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: text.encode("utf-16"),  # with its BOM
        lambda text: text.encode("utf-16-le"),  # without
        lambda text: text.encode("latin-1") + b"\xff\xfe\xfa",  # not UTF-8 at all
    ],
    ids=["utf-16", "utf-16 without BOM", "invalid utf-8"],
)
def test_a_request_file_not_in_utf8_exits_2(cli: Any, tmp_path: Path, encode: Any) -> None:
    text = json.dumps(request_for("alice"))
    result = cli("submit", "--json", _file(tmp_path, encode(text)))
    assert result.exit_code == 2
    problems = json.loads(result.stdout)["problems"]
    assert problems[0]["field"] == "$" and "UTF-8" in problems[0]["message"]


@pytest.mark.parametrize(
    "content",
    [b"[" * 100_000 + b"]" * 100_000, b'{"idempotency_key": ' + b"9" * 5000 + b"}"],
    ids=["100k-deep nesting", "5000-digit number"],
)
def test_pathological_json_exits_2(cli: Any, tmp_path: Path, content: bytes) -> None:
    result = cli("submit", "--json", _file(tmp_path, content))
    assert result.exit_code == 2
    assert json.loads(result.stdout)["problems"][0]["field"] == "$"


def test_a_negative_zero_credit_amount_exits_2_naming_the_field(cli: Any, tmp_path: Path) -> None:
    request = request_for("alice")
    request["product"]["credit_amount"] = "-0.00"
    result = cli("submit", "--json", _file(tmp_path, json.dumps(request).encode()))
    assert result.exit_code == 2
    fields = [p["field"] for p in json.loads(result.stdout)["problems"]]
    assert fields == ["product.credit_amount"]


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["list", "--since", "99999999999w"], "--since"),
        (["rerun", "--failed", "--since", "99999999999d"], "--since"),
        (["list", "--since", "36501d"], "--since"),
        (["list", "--limit", "-1"], "--limit"),
        (["sandbox", "serve", "--port", "99999"], "--port"),
        (["sandbox", "serve", "--host", "0.0.0.0"], "--host"),
    ],
)
def test_out_of_range_options_exit_2_naming_the_option(
    cli: Any, args: list[str], option: str
) -> None:
    result = cli(*args)
    assert result.exit_code == 2
    assert option in result.stderr + result.stdout


def test_an_unknown_agency_in_sandbox_faults_exits_2_naming_the_variable(
    cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHECKS_SANDBOX_FAULTS", "cifass=http503")
    result = cli("list")
    assert result.exit_code == 2
    assert "CHECKS_SANDBOX_FAULTS" in result.stderr and "cifass" in result.stderr


def test_an_unreachable_database_is_one_line_naming_it(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHECKS_DATABASE_URL", f"sqlite:///{tmp_path}/no/such/dir/checks.db")
    result = cli("list")
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("error")]
    assert len(lines) == 1 and "no/such/dir/checks.db" in lines[0]


def test_an_unreachable_postgresql_hides_the_password(
    cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv(
        "CHECKS_DATABASE_URL", f"postgresql+psycopg://app:s3cret@127.0.0.1:{port}/checks"
    )
    result = cli("list")
    assert result.exit_code == 1
    assert f"127.0.0.1:{port}/checks" in result.stderr and "s3cret" not in result.stderr


def test_rerun_of_an_unknown_check_says_no_such_check(cli: Any) -> None:
    result = cli("rerun", "00000000-0000-0000-0000-000000000000")
    assert result.exit_code == 1 and "no such check" in result.stderr


def test_errors_name_the_field_and_rule_never_the_personal_value(cli: Any, tmp_path: Path) -> None:
    request = request_for("alice")
    request["applicant"]["email"] = "alice.secret.address@@example"
    request["applicant"]["addresses"][0]["postcode"] = "QQ99 9QQ"
    request["applicant"]["phone"] = "0770-SECRET"
    request["applicant"]["date_of_birth"] = "1980-02-30"
    for as_json in ([], ["--json"]):
        result = cli("submit", *as_json, _file(tmp_path, json.dumps(request).encode()))
        assert result.exit_code == 2
        shown = result.stdout + result.stderr
        for field in ("email", "postcode", "phone", "date_of_birth"):
            assert field in shown
        for value in ("alice.secret.address", "QQ99", "SECRET", "1980-02-30"):
            assert value not in shown


def test_the_audit_actor_is_who_acted_and_requested_by_is_kept_as_data(
    cli: Any, tmp_path: Path
) -> None:
    request = request_for("alice", requested_by="someone-else")
    result = cli("submit", "--json", _file(tmp_path, json.dumps(request).encode()))
    check_id = json.loads(result.stdout)["id"]
    shown = json.loads(cli("show", "--json", check_id).stdout)
    submitted = next(e for e in shown["timeline"] if e["action"] == "submitted")
    assert submitted["actor"] == f"cli:{getpass.getuser()}"
    assert submitted["detail"]["requested_by"] == "someone-else"
    assert shown["requested_by"] == "someone-else"


def test_lookalike_names_are_matched_by_the_fraud_search_as_the_person_they_imitate(
    runtime: Runtime,
) -> None:
    # Given Dan's own check, and one with a zero-width space in his surname
    dan = runtime.service.submit(request_for("dan")).check_id
    request = request_for("dan")
    request["applicant"]["surname"] = "Imp\u200bostor"
    lookalike = runtime.service.submit(request).check_id
    for cid in (dan, lookalike):
        asyncio.run(runtime.runner.run(cid))
    # Then the lookalike is the same subject and is declined and flagged like Dan
    first, second = runtime.service.get(dan), runtime.service.get(lookalike)
    assert second["subject_id"] == first["subject_id"]
    assert (second["decision"], second["flagged"]) == ("decline", True)


def test_a_mixed_script_name_is_referred_with_the_reason(runtime: Runtime) -> None:
    request = request_for("alice")
    request["applicant"]["surname"] = "Cle\u0430n"  # Cyrillic a
    cid = runtime.service.submit(request).check_id
    asyncio.run(runtime.runner.run(cid))
    view = runtime.service.get(cid)
    assert view["decision"] == "refer"
    assert "NAME_MIXED_SCRIPT" in [r["code"] for r in view["reasons"]]
