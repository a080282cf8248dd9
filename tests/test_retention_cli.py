"""Retention and data-subject rights through ``checkctl``, on SQLite with a frozen store clock.

The store's clock is pinned while checks are decided (so Dan is flagged on 29 February 2024);
the sweep is then run ``--as-of`` the dates that matter.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text
from typer.testing import CliRunner

from checks.crypto import Cipher
from checks.errors import CheckError
from tests.helpers import request_for
from workers.cli import app
from workers.runtime import set_runtime


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """checkctl in-process on a fresh SQLite file; ``cli.freeze(when)`` pins the store clock."""
    db = tmp_path / "checks.db"
    monkeypatch.setenv("CHECKS_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.delenv("CHECKS_SANDBOX_FAULTS", raising=False)
    monkeypatch.delenv("CHECKS_RETENTION_DAYS", raising=False)
    set_runtime(None)
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(app, list(args), catch_exceptions=False)

    def freeze(when: datetime) -> None:
        monkeypatch.setattr("checks.store.utcnow", lambda: when)

    def submit(persona: str, **overrides: Any) -> dict[str, Any]:
        path = tmp_path / f"{persona}-{len(list(tmp_path.iterdir()))}.json"
        path.write_text(json.dumps(request_for(persona, **overrides)))
        result = invoke("submit", "--wait", "--json", str(path))
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)  # type: ignore[no-any-return]

    def run_json(*args: str, code: int = 0) -> Any:
        result = invoke(*args, "--json")
        assert result.exit_code == code, result.output
        return json.loads(result.stdout)

    invoke.db = db  # type: ignore[attr-defined]
    invoke.freeze = freeze  # type: ignore[attr-defined]
    invoke.submit = submit  # type: ignore[attr-defined]
    invoke.json = run_json  # type: ignore[attr-defined]
    invoke.sql = lambda q: _sql(db, q)  # type: ignore[attr-defined]
    yield invoke
    set_runtime(None)


def _sql(db: Path, query: str) -> list[Any]:
    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.begin() as conn:
            result = conn.execute(text(query))
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


def _at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(hour=10, tzinfo=UTC)


def test_dan_flagged_on_29_february_is_kept_on_28_february_2030_and_purged_on_1_march(
    cli: Any,
) -> None:
    cli.freeze(_at("2024-02-29"))
    dan = cli.submit("dan")
    assert dan["flagged"]
    kept = cli.json("retention", "sweep", "--as-of", "2030-02-28")
    assert kept["purged"] == {"checks": 0, "subjects": 0}
    assert kept["kept"]["flagged"] == 1
    assert cli.json("show", dan["id"])["purged"] is False
    purged = cli.json("retention", "sweep", "--as-of", "2030-03-01")
    assert purged["as_of"] == "2030-03-01" and purged["dry_run"] is False
    assert purged["purged"] == {"checks": 1, "subjects": 1}
    shown = cli.json("show", dan["id"])
    assert shown["purged"] is True and shown["decision"] == "decline"
    assert shown["footprints"] and shown["reasons"]


def test_an_unflagged_check_is_purged_after_the_configured_days_and_not_a_day_earlier(
    cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHECKS_RETENTION_DAYS", "30")
    cli.freeze(_at("2026-01-01"))
    alice = cli.submit("alice")
    assert cli.json("retention", "sweep", "--as-of", "2026-01-30")["purged"]["checks"] == 0
    assert cli.json("retention", "sweep", "--as-of", "2026-01-31")["purged"]["checks"] == 1
    assert cli.json("show", alice["id"])["purged"] is True


def test_a_held_subject_survives_every_sweep_until_released(cli: Any) -> None:
    cli.freeze(_at("2020-01-01"))
    alice = cli.submit("alice")
    cli.json("retention", "hold", alice["subject_id"], "--reason", "case 2020/17")
    for day in ("2021-06-01", "2030-01-01", "2099-12-31"):
        report = cli.json("retention", "sweep", "--as-of", day)
        assert report["purged"]["checks"] == 0 and report["kept"]["held"] == 1
    refused = cli.json("subject", "erase", alice["subject_id"], code=1)
    assert refused["error"] == "erasure_refused" and "legal hold" in refused["message"]
    cli.json("retention", "release", alice["subject_id"])
    assert cli.json("retention", "sweep", "--as-of", "2099-12-31")["purged"]["checks"] == 1
    actions = [r[0] for r in cli.sql("SELECT action FROM audit_events ORDER BY id")]
    assert "legal_hold_placed" in actions and "legal_hold_released" in actions


def test_a_dry_run_reports_what_it_would_purge_and_writes_nothing(cli: Any) -> None:
    cli.freeze(_at("2020-01-01"))
    alice = cli.submit("alice")

    def snapshot() -> list[Any]:
        return [
            cli.sql("SELECT * FROM checks ORDER BY id"),
            cli.sql("SELECT * FROM subjects ORDER BY id"),
            cli.sql("SELECT * FROM steps ORDER BY id"),
            cli.sql("SELECT id, action FROM audit_events ORDER BY id"),
        ]

    before = snapshot()
    report = cli.json("retention", "sweep", "--as-of", "2030-01-01", "--dry-run")
    assert report["dry_run"] is True and report["purged"]["checks"] == 1
    assert alice["id"] in report["purged_ids"]["checks"]
    assert snapshot() == before


def _every_value(db: Path, cipher: Cipher) -> list[str]:
    """Every value in every table, with each encrypted column decrypted where it can be."""
    engine = create_engine(f"sqlite:///{db}")
    values: list[str] = []
    try:
        tables = inspect(engine).get_table_names()
        with engine.connect() as conn:
            for table in tables:
                for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                    for value in row:
                        if isinstance(value, bytes):
                            try:
                                values.append(cipher.decrypt(value))
                            except CheckError:
                                values.append(value.decode("latin-1"))
                        elif value is not None:
                            values.append(str(value))
    finally:
        engine.dispose()
    return values


def test_after_a_purge_no_personal_data_or_agency_answer_of_that_subject_is_left(
    cli: Any,
) -> None:
    cli.freeze(_at("2020-01-01"))
    alice = cli.submit("alice")
    cli.freeze(_at("2026-06-01"))
    bob = cli.submit("bob")  # not expired: still readable, which proves the scan decrypts
    cipher = Cipher()  # the development key the CLI runs with
    refs = [
        json.loads(cipher.decrypt(r[0]))["result"]["agency_ref"]
        for r in cli.sql(f"SELECT result_enc FROM steps WHERE check_id = '{alice['id']}'")
    ]
    assert refs and all(refs)
    report = cli.json("retention", "sweep", "--as-of", "2022-01-01")
    assert report["purged"] == {"checks": 1, "subjects": 1}
    text_everywhere = "\n".join(_every_value(cli.db, cipher))
    for secret in ("Clean", "1980-01-01", "alice.clean@example.com", *refs):
        assert secret not in text_everywhere, secret
    assert "Thinfile" in text_everywhere and bob["status"] == "decided"
    purge_events = cli.sql("SELECT detail FROM audit_events WHERE action = 'retention_purged'")
    assert [json.loads(d[0])["checks"] for d in purge_events] == [[alice["id"]]]


def test_erasing_dan_within_six_years_is_refused_naming_the_date(cli: Any) -> None:
    cli.freeze(_at("2024-02-29"))
    dan = cli.submit("dan")
    refused = cli.json("subject", "erase", dan["subject_id"], code=1)
    assert refused["error"] == "erasure_refused"
    assert "2030-02-28" in refused["message"] and "fraud" in refused["message"]
    assert cli.json("show", dan["id"])["purged"] is False
    actions = [r[0] for r in cli.sql("SELECT action FROM audit_events")]
    assert "erasure_refused" in actions


def test_erasing_alice_removes_her_personal_data_and_show_still_works(cli: Any) -> None:
    alice = cli.submit("alice")
    erased = cli.json("subject", "erase", alice["subject_id"])
    assert erased["erased"] == {"checks": [alice["id"]], "subject": True}
    shown = cli.json("show", alice["id"])
    assert shown["purged"] is True and shown["decision"] == "accept"
    assert cli.sql(f"SELECT pii FROM subjects WHERE id = '{alice['subject_id']}'") == [(None,)]
    assert cli.sql(f"SELECT request_enc FROM checks WHERE id = '{alice['id']}'") == [(None,)]
    assert "erased" in [r[0] for r in cli.sql("SELECT action FROM audit_events")]


def test_a_person_who_moved_house_is_one_subject_with_one_export_of_both_checks(
    cli: Any, tmp_path: Path
) -> None:
    first = cli.submit("alice")
    moved = request_for("alice")
    old_home = moved["applicant"]["addresses"][0]
    old_home["to"] = "2026-09-30"
    moved["applicant"]["addresses"] = [
        {
            "line1": "7 New Street",
            "line2": "",
            "town": "Hull",
            "postcode": "HU1 1AA",
            "from": "2026-10-01",
            "to": None,
        },
        old_home,
        moved["applicant"]["addresses"][1],
    ]
    path = tmp_path / "moved.json"
    path.write_text(json.dumps(moved))
    second = json.loads(cli("submit", "--wait", "--json", str(path)).stdout)
    assert second["subject_id"] == first["subject_id"]

    person = tmp_path / "person.json"
    person.write_text(json.dumps(moved["applicant"]))
    assert cli.json("subject", "find", str(person)) == {"subject_ids": [first["subject_id"]]}

    out = tmp_path / "export.json"
    document = cli.json("subject", "export", first["subject_id"], "--out", str(out))
    assert json.loads(out.read_text())["subject_id"] == first["subject_id"]
    expected_keys = {
        "subject_id",
        "generated_at",
        "personal_data",
        "checks",
        "footprints",
        "associations",
        "flags",
        "retention",
    }
    assert expected_keys <= set(document)
    assert {c["id"] for c in document["checks"]} == {first["id"], second["id"]}
    assert document["personal_data"]["surname"] == "Clean"
    assert all(c["reasons"] and c["decision"] == "accept" for c in document["checks"])
    assert {"agency", "search_type", "searched_at", "purpose"} <= set(document["footprints"][0])
    due = [
        json.loads(r[0])
        for r in cli.sql("SELECT detail FROM audit_events WHERE action = 'subject_access_request'")
    ]
    assert due and due[0]["due_at"] == document["request"]["due_at"]


def test_an_export_never_carries_a_joint_applicants_personal_data(cli: Any) -> None:
    frank = cli.submit("frank")
    document = cli.json("subject", "export", frank["subject_id"])
    assert document["associations"] and "Grace" not in json.dumps(document)
    assert document["associations"][0]["associate_subject_id"] == frank["joint_subject_id"]


def test_subject_find_with_a_bad_person_exits_2_naming_the_field(cli: Any, tmp_path: Path) -> None:
    person = request_for("alice")["applicant"]
    person["date_of_birth"] = "not a date"
    path = tmp_path / "person.json"
    path.write_text(json.dumps(person))
    result = cli("subject", "find", "--json", str(path))
    assert result.exit_code == 2
    assert "applicant" not in result.stderr and "date_of_birth" in result.stderr
    assert "not a date" not in result.stdout + result.stderr


def test_unknown_subjects_are_refused_with_exit_1(cli: Any) -> None:
    for args in (("subject", "export", "nobody"), ("retention", "hold", "nobody", "--reason", "x")):
        refused = cli.json(*args, code=1)
        assert refused["error"] == "subject_not_found"


def test_editing_one_audit_row_makes_verify_exit_1_naming_it(cli: Any) -> None:
    cli.submit("alice")
    assert cli.json("audit", "verify")["ok"] is True
    target = cli.sql("SELECT id FROM audit_events ORDER BY id")[2][0]
    cli.sql(f"UPDATE audit_events SET actor = 'mallory' WHERE id = {target}")
    broken = cli.json("audit", "verify", code=1)
    assert broken["error"] == "audit_chain_broken"
    assert f"audit event {target} " in broken["message"]


def test_an_audit_row_edited_before_it_was_sealed_is_still_caught(cli: Any) -> None:
    cli.submit("alice")
    target = cli.sql("SELECT id FROM audit_events ORDER BY id")[1][0]
    cli.sql(f"UPDATE audit_events SET detail = '{{}}' WHERE id = {target}")
    broken = cli.json("audit", "verify", code=1)
    assert f"audit event {target} " in broken["message"]


def test_a_deleted_audit_row_breaks_the_chain_at_the_next_one(cli: Any) -> None:
    cli.submit("alice")
    cli.json("audit", "verify")
    ids = [r[0] for r in cli.sql("SELECT id FROM audit_events ORDER BY seq")]
    cli.sql(f"DELETE FROM audit_events WHERE id = {ids[1]}")
    broken = cli.json("audit", "verify", code=1)
    assert f"audit event {ids[2]} " in broken["message"]
