"""``checkctl`` as a user runs it: exit statuses, --json output, nothing written on bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text
from typer.testing import CliRunner

from checks.samples import persona_request
from tests.helpers import SHOW_KEYS, request_for
from workers.cli import app
from workers.runtime import get_runtime, set_runtime


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Run checkctl in-process on a fresh SQLite file in tmp_path."""
    db = tmp_path / "checks.db"
    monkeypatch.setenv("CHECKS_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.delenv("CHECKS_SANDBOX_FAULTS", raising=False)
    set_runtime(None)
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Any:
        return runner.invoke(app, list(args), input=input, catch_exceptions=False)

    invoke.db = db  # type: ignore[attr-defined]
    yield invoke
    set_runtime(None)


def _write(tmp_path: Path, data: Any) -> str:
    path = tmp_path / "request.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return str(path)


def _check_rows(db: Path) -> int:
    if not db.exists():
        return 0
    engine = create_engine(f"sqlite:///{db}")
    try:
        if "checks" not in inspect(engine).get_table_names():
            return 0
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM checks")).scalar_one())
    finally:
        engine.dispose()


INVALID_CASES = {
    "postcode": (
        lambda r: r["applicant"]["addresses"][0].update(postcode="ZZ99 ZZZZ"),
        "applicant.addresses.0.postcode",
    ),
    "under 18": (
        lambda r: r["applicant"].update(date_of_birth="2015-01-01"),
        "applicant.date_of_birth",
    ),
    "future date": (
        lambda r: r["applicant"]["addresses"][0].update(**{"from": "2999-01-01"}),
        "applicant.addresses.0.from",
    ),
    "short history": (
        lambda r: r["applicant"].update(
            addresses=[
                {
                    "line1": "1 New Road",
                    "line2": "",
                    "town": "Leeds",
                    "postcode": "LS1 4AP",
                    "from": "2025-06-01",
                    "to": None,
                }
            ]
        ),
        "applicant.addresses",
    ),
    "money as a number": (
        lambda r: r["product"].update(credit_amount=720.5),
        "product.credit_amount",
    ),
    "unknown field": (lambda r: r.update(colour="blue"), "colour"),
    "nested unknown field": (lambda r: r["applicant"].update(shoe_size=9), "applicant.shoe_size"),
    "overlong name": (lambda r: r["applicant"].update(surname="X" * 500), "applicant.surname"),
    "bad purpose": (lambda r: r.update(purpose="loan_shark"), "purpose"),
}


@pytest.mark.parametrize("case", sorted(INVALID_CASES))
def test_an_invalid_request_exits_2_naming_the_field_and_writes_nothing(
    cli: Any, tmp_path: Path, case: str
) -> None:
    mutate, field = INVALID_CASES[case]
    request = request_for("alice")
    mutate(request)
    result = cli("submit", _write(tmp_path, request))
    assert result.exit_code == 2, result.output
    assert field in result.stderr
    assert _check_rows(cli.db) == 0


def test_every_problem_is_listed_and_json_output_names_each_field(cli: Any, tmp_path: Path) -> None:
    request = request_for("alice")
    request["applicant"]["date_of_birth"] = "2015-01-01"
    request["product"]["credit_amount"] = "-5"
    result = cli("submit", "--json", _write(tmp_path, request))
    assert result.exit_code == 2
    fields = {p["field"] for p in json.loads(result.stdout)["problems"]}
    assert {"applicant.date_of_birth", "product.credit_amount"} <= fields
    assert _check_rows(cli.db) == 0


def test_malformed_json_exits_2(cli: Any, tmp_path: Path) -> None:
    result = cli("submit", _write(tmp_path, "{not json"))
    assert result.exit_code == 2 and _check_rows(cli.db) == 0


def test_submit_wait_prints_the_outcome_with_the_keys_spec_promises(
    cli: Any, tmp_path: Path
) -> None:
    result = cli("submit", "--wait", "--json", _write(tmp_path, request_for("dan")))
    assert result.exit_code == 0, result.output
    view = json.loads(result.stdout)
    for key in SHOW_KEYS:
        assert key in view
    assert view["status"] == "decided" and view["decision"] == "decline" and view["flagged"]
    assert {"code", "text", "agency"} <= set(view["reasons"][0])
    assert {"agency", "search_type", "status", "attempts", "error"} <= set(view["steps"][0])
    assert {"agency", "search_type", "searched_at", "client_ref"} <= set(view["footprints"][0])
    shown = json.loads(cli("show", "--json", view["id"]).stdout)
    assert shown["id"] == view["id"] and shown["decision"] == "decline"


def test_show_of_an_unknown_check_exits_1(cli: Any) -> None:
    result = cli("show", "no-such-check")
    assert result.exit_code == 1 and "no such check" in result.stderr


def test_list_filters_by_status_and_agency(cli: Any, tmp_path: Path) -> None:
    cli("submit", "--wait", _write(tmp_path, request_for("alice")))
    decided = json.loads(cli("list", "--status", "decided", "--json").stdout)
    assert len(decided) == 1 and decided[0]["decision"] == "accept"
    assert json.loads(cli("list", "--status", "failed", "--json").stdout) == []
    assert len(json.loads(cli("list", "--agency", "cifas", "--since", "1h", "--json").stdout)) == 1
    assert cli("list", "--status", "bogus").exit_code == 2


def test_rerun_failed_in_bulk_with_dry_run_then_for_real(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two checks that failed because Cifas rejected our credentials
    monkeypatch.setenv("CHECKS_SANDBOX_FAULTS", "cifas=http401")
    set_runtime(None)
    ids = []
    for persona in ("alice", "carol"):
        r = cli("submit", "--wait", "--json", _write(tmp_path, request_for(persona)))
        ids.append(json.loads(r.stdout)["id"])
    assert all(json.loads(cli("show", "--json", i).stdout)["status"] == "failed" for i in ids)
    # When an operator previews, then reruns, with Cifas back
    dry = json.loads(cli("rerun", "--failed", "--agency", "cifas", "--dry-run", "--json").stdout)
    assert sorted(dry["would_rerun"]) == sorted(ids)
    assert all(json.loads(cli("show", "--json", i).stdout)["status"] == "failed" for i in ids)
    get_runtime().agencies.sandbox.set_faults(None)  # type: ignore[union-attr]
    result = cli("rerun", "--failed", "--agency", "cifas", "--json")
    assert result.exit_code == 0, result.output
    done = json.loads(result.stdout)
    # Then both are decided, and only Cifas was searched again
    assert {v["decision"] for v in done.values()} == {"accept", "decline"}
    assert all(v["searched_again"] == ["cifas"] for v in done.values())
    for i in ids:
        view = json.loads(cli("show", "--json", i).stdout)
        assert sorted(f["agency"] for f in view["footprints"]) == ["cifas", "experian"]


def test_rerun_of_a_decided_check_is_refused(cli: Any, tmp_path: Path) -> None:
    r = cli("submit", "--wait", "--json", _write(tmp_path, request_for("alice")))
    result = cli("rerun", json.loads(r.stdout)["id"])
    assert result.exit_code == 1 and "only failed checks" in result.stderr


def test_demo_runs_the_persona_catalogue_and_every_outcome_matches_spec(cli: Any) -> None:
    result = cli("demo", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["mismatches"] == 0
    decided = {r["persona"]: r["decision"] for r in summary["results"] if r.get("decision")}
    assert decided["Alice Clean"] == "accept" and decided["Carol Adverse"] == "decline"


def test_worker_refuses_to_start_on_the_embedded_broker(cli: Any) -> None:
    result = cli("worker")
    assert result.exit_code == 1 and "stub://" in result.stderr


def test_the_same_idempotency_key_submitted_twice_from_the_command_line_is_one_check(
    cli: Any, tmp_path: Path
) -> None:
    path = _write(tmp_path, persona_request("ivan", "ORD-CLI-1"))
    first = json.loads(cli("submit", "--wait", "--json", path).stdout)
    second = json.loads(cli("submit", "--json", path).stdout)
    assert second == {"id": first["id"], "created": False}
    assert _check_rows(cli.db) == 1
