"""Encryption keys: a missing key fails at once, rotation is complete and resumable, rows are
counted per key, and live mode refuses the development key."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from agencies.config import AgencySettings, InvalidAgencySetting, build_agencies
from checks.config import ConfigError, InvalidSetting, Settings
from checks.crypto import Cipher
from checks.errors import EncryptionKeyMissing
from checks.keys import KeyService
from tests.conftest import fast_agency_settings
from tests.helpers import request_for
from workers.cli import app
from workers.runtime import Runtime, build_runtime, set_runtime

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


@pytest.fixture
def make(sqlite_url: str, stub_broker: Any) -> Iterator[Any]:
    """Build runtimes on one SQLite file with the keys given (newest first)."""
    built: list[Runtime] = []

    def runtime_with(*keys: str) -> Runtime:
        rt = build_runtime(
            settings=Settings(database_url=sqlite_url, encryption_keys=keys),
            agencies=build_agencies(fast_agency_settings()),
            broker=stub_broker,
        )
        built.append(rt)
        return rt

    yield runtime_with
    set_runtime(None)
    for rt in built:
        rt.store.dispose()


def test_a_check_under_a_key_no_longer_configured_fails_at_once_leaving_no_step_running(
    make: Any,
) -> None:
    # Given a check stored under the old key, never run
    cid = make(OLD).service.submit(request_for("alice")).check_id
    # When a worker that only has the new key runs it
    rt = make(NEW)
    result = asyncio.run(rt.runner.run(cid))
    # Then it fails at once with encryption_key_missing, and no step is left running
    view = rt.service.get(cid)
    assert result.status == "failed" and view["status"] == "failed"
    assert view["failure_reason"].startswith("encryption_key_missing")
    assert {s["status"] for s in view["steps"]} == {"pending"}
    assert all(s["attempts"] == 0 for s in view["steps"])


def test_rerun_of_a_check_under_a_missing_key_is_refused_with_exit_1(
    make: Any, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = make(OLD)
    cid = old.service.submit(request_for("alice")).check_id
    old.store.mark_failed(cid, "experian down", actor="test")
    monkeypatch.setenv("CHECKS_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("CHECKS_ENCRYPTION_KEYS", NEW)
    set_runtime(None)
    result = CliRunner().invoke(app, ["rerun", cid, "--json"], catch_exceptions=False)
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"] == "encryption_key_missing"
    # and the check was not reopened
    assert make(OLD).service.get(cid)["status"] == "failed"
    with pytest.raises(EncryptionKeyMissing):
        make(NEW).service.rerun(cid, actor="test")


def test_rotation_moves_every_row_to_the_newest_key_and_keeps_subjects_findable(
    make: Any,
) -> None:
    # Given checks (with decided results) stored under the old key
    old = make(OLD)
    ids = [old.service.submit(request_for(p)).check_id for p in ("alice", "carol")]
    for cid in ids:
        asyncio.run(old.runner.run(cid))
    subject = old.service.get(ids[0])["subject_id"]
    # When the new key is put first and the rows are rotated
    both = make(NEW, OLD)
    before = KeyService(both.store).check()
    assert before.rows_by_key[0] == 0 and before.rows_by_key[1] > 0
    report = KeyService(both.store).rotate()
    assert report.rotated == before.rows_by_key[1] and report.unreadable == 0
    # Then every row is under the new key, so the old key can be dropped
    new_only = make(NEW)
    after = KeyService(new_only.store).check()
    assert after.unreadable == 0 and after.rows_by_key == [before.rows_by_key[1]]
    # and the same person is still the same subject
    again = new_only.service.submit(request_for("alice"))
    assert new_only.service.get(again.check_id)["subject_id"] == subject
    # and a second rotation has nothing to do
    assert KeyService(both.store).rotate().rotated == 0


def test_an_interrupted_rotation_resumes_where_it_stopped(
    make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = make(OLD)
    for persona in ("alice", "bob", "carol"):
        old.service.submit(request_for(persona))
    both = make(NEW, OLD)
    monkeypatch.setattr("checks.keys._BATCH", 1)
    calls = 0

    def interrupt_after_two(done: int, total: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        KeyService(both.store).rotate(interrupt_after_two)
    partial = KeyService(both.store).check()
    assert partial.rows_by_key[0] == 2 and partial.rows_by_key[1] > 0
    resumed = KeyService(both.store).rotate()
    assert resumed.already_current == 2 and resumed.rotated == partial.rows_by_key[1]
    assert KeyService(both.store).check().rows_by_key[1] == 0


def test_keys_check_reports_rows_under_each_key_and_exits_1_for_unreadable_ones(
    make: Any, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    make(OLD).service.submit(request_for("alice"))
    monkeypatch.setenv("CHECKS_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("CHECKS_ENCRYPTION_KEYS", f"{NEW},{OLD}")
    set_runtime(None)
    result = CliRunner().invoke(app, ["keys", "check", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert [k["rows"] for k in report["keys"]] == [0, 2]  # the check's request and its subject
    assert report["keys"][1]["fingerprint"] == Cipher([OLD]).key_fingerprints[0]
    assert OLD not in result.stdout and NEW not in result.stdout
    rotated = CliRunner().invoke(app, ["keys", "rotate", "--json"], catch_exceptions=False)
    assert rotated.exit_code == 0 and json.loads(rotated.stdout)["rotated"] == 2
    monkeypatch.setenv("CHECKS_ENCRYPTION_KEYS", Fernet.generate_key().decode())
    set_runtime(None)
    lost = CliRunner().invoke(app, ["keys", "check", "--json"], catch_exceptions=False)
    assert lost.exit_code == 1 and json.loads(lost.stdout)["unreadable"] == 2


@pytest.mark.parametrize("value", [" , ,", ",", "   "])
def test_encryption_keys_set_to_nothing_is_an_error_not_the_development_key(value: str) -> None:
    with pytest.raises(InvalidSetting, match="CHECKS_ENCRYPTION_KEYS"):
        Settings.from_env({"CHECKS_ENCRYPTION_KEYS": value})


def test_live_mode_refuses_the_development_key_and_needs_a_signing_key() -> None:
    with pytest.raises(ConfigError) as refused:
        Settings(database_url="sqlite://").validate_live(using_development_key=True)
    assert "CHECKS_ENCRYPTION_KEYS" in str(refused.value)
    assert "CHECKS_NOTIFY_SIGNING_KEY" in str(refused.value)
    Settings(database_url="sqlite://", notify_signing_key="s").validate_live(
        using_development_key=False
    )


def test_the_signing_key_is_its_own_setting_unchanged_by_key_rotation(make: Any) -> None:
    from workers.notify import signing_key

    first, rotated = make(OLD), make(NEW, OLD)
    assert signing_key(first) == signing_key(rotated)  # the development signing key
    for rt in (first, rotated):
        rt.settings = rt.settings.model_copy(update={"notify_signing_key": "shared-with-receivers"})
    assert signing_key(first) == signing_key(rotated) == b"shared-with-receivers"


def test_an_unknown_agency_in_sandbox_faults_is_refused_naming_the_variable() -> None:
    with pytest.raises(InvalidAgencySetting, match="CHECKS_SANDBOX_FAULTS.*cifass"):
        AgencySettings.from_env({"CHECKS_SANDBOX_FAULTS": "cifass=http503"})


def test_cli_live_mode_on_the_development_key_exits_1_naming_the_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agencies.registry import adapter_classes

    # Given live mode with every agency's credentials but no keys of our own
    db = tmp_path / "live.db"
    monkeypatch.setenv("CHECKS_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("CHECKS_AGENCY_MODE", "live")
    monkeypatch.delenv("CHECKS_ENCRYPTION_KEYS", raising=False)
    monkeypatch.delenv("CHECKS_NOTIFY_SIGNING_KEY", raising=False)
    for name, adapter in adapter_classes().items():
        # (never contacted: the command stops before any agency call)
        monkeypatch.setenv(f"CHECKS_{name.upper()}_BASE_URL", "http://127.0.0.1:9/")
        for cred in adapter.credential_names:
            monkeypatch.setenv(f"CHECKS_{name.upper()}_{cred.upper()}", "x")
    set_runtime(None)
    # When any command starts
    result = CliRunner().invoke(app, ["list"], catch_exceptions=False)
    # Then it refuses, naming both settings, before touching the database
    assert result.exit_code == 1, result.stderr
    assert "CHECKS_ENCRYPTION_KEYS" in result.stderr
    assert "CHECKS_NOTIFY_SIGNING_KEY" in result.stderr
    assert not db.exists()
    set_runtime(None)


def test_after_rotation_a_person_who_moved_is_still_found_under_the_new_key_alone(
    make: Any,
) -> None:
    # Given Alice's subject stored under the old key, found by each postcode she lived at
    old = make(OLD)
    first = old.service.submit(request_for("alice")).check_id
    subject = old.service.get(first)["subject_id"]
    # When the keys are rotated and the old key dropped
    KeyService(make(NEW, OLD).store).rotate()
    new_only = make(NEW)
    # Then Alice, who has since moved (her old home is now her previous address), is the same
    moved = request_for("alice")
    old_home = moved["applicant"]["addresses"][0]
    old_home["to"] = "2026-09-30"
    new_home = dict(old_home, line1="7 New Street", town="Hull", postcode="HU1 1AA")
    new_home.update({"from": "2026-10-01", "to": None})
    moved["applicant"]["addresses"] = [new_home, old_home, *moved["applicant"]["addresses"][1:]]
    again = new_only.service.submit(moved)
    assert new_only.service.get(again.check_id)["subject_id"] == subject
